//! Checksum and structure validators used by the recognizers. Each works on the matched text only.

use sha2::{Digest, Sha256};

/// The ASCII digits of `s`, as numbers, skipping everything else.
pub fn digits(s: &str) -> Vec<u8> {
    s.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect()
}

/// Luhn (mod 10) check over a digit sequence.
pub fn luhn(d: &[u8]) -> bool {
    if d.len() < 2 {
        return false;
    }
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            let x = u32::from(x);
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 {
                    y - 9
                } else {
                    y
                }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Whether a card number starts with a known issuer identification number range.
pub fn known_iin(d: &[u8]) -> bool {
    let prefix = |n: usize| d.iter().take(n).fold(0u32, |acc, &x| acc * 10 + u32::from(x));
    let len = d.len();
    let p1 = prefix(1);
    let p2 = prefix(2);
    let p3 = prefix(3);
    let p4 = prefix(4);
    let p6 = prefix(6);
    match p1 {
        // Visa
        4 => matches!(len, 13 | 16 | 19),
        // Mastercard 2-series (51-55 below), Mir
        2 => (2221..=2720).contains(&p4) && len == 16 || (2200..=2204).contains(&p4) && (16..=19).contains(&len),
        5 => ((51..=55).contains(&p2) && len == 16) || ((p2 == 50 || (56..=59).contains(&p2)) && len >= 12),
        // Amex, Diners, JCB
        3 => {
            ((p2 == 34 || p2 == 37) && len == 15)
                || ((300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39) && (14..=19).contains(&len)
                || (3528..=3589).contains(&p4) && (16..=19).contains(&len)
        }
        // Discover, UnionPay, Maestro, RuPay
        6 => {
            p4 == 6011
                || p2 == 65
                || (644..=649).contains(&p3)
                || (622126..=622925).contains(&p6)
                || p2 == 62
                || (60..=69).contains(&p2) && len >= 12
        }
        _ => false,
    }
}

/// IBAN lengths by country code (ISO 13616 registry).
pub fn iban_length(cc: &str) -> Option<usize> {
    let n = match cc {
        "AD" => 24,
        "AE" => 23,
        "AL" => 28,
        "AT" => 20,
        "AZ" => 28,
        "BA" => 20,
        "BE" => 16,
        "BG" => 22,
        "BH" => 22,
        "BI" => 27,
        "BR" => 29,
        "BY" => 28,
        "CH" => 21,
        "CR" => 22,
        "CY" => 28,
        "CZ" => 24,
        "DE" => 22,
        "DJ" => 27,
        "DK" => 18,
        "DO" => 28,
        "EE" => 20,
        "EG" => 29,
        "ES" => 24,
        "FI" => 18,
        "FK" => 18,
        "FO" => 18,
        "FR" => 27,
        "GB" => 22,
        "GE" => 22,
        "GI" => 23,
        "GL" => 18,
        "GR" => 27,
        "GT" => 28,
        "HR" => 21,
        "HU" => 28,
        "IE" => 22,
        "IL" => 23,
        "IQ" => 23,
        "IS" => 26,
        "IT" => 27,
        "JO" => 30,
        "KW" => 30,
        "KZ" => 20,
        "LB" => 28,
        "LC" => 32,
        "LI" => 21,
        "LT" => 20,
        "LU" => 20,
        "LV" => 21,
        "LY" => 25,
        "MC" => 27,
        "MD" => 24,
        "ME" => 22,
        "MK" => 19,
        "MN" => 20,
        "MR" => 27,
        "MT" => 31,
        "MU" => 30,
        "NI" => 28,
        "NL" => 18,
        "NO" => 15,
        "OM" => 23,
        "PK" => 24,
        "PL" => 28,
        "PS" => 29,
        "PT" => 25,
        "QA" => 29,
        "RO" => 24,
        "RS" => 22,
        "RU" => 33,
        "SA" => 24,
        "SC" => 31,
        "SD" => 18,
        "SE" => 24,
        "SI" => 19,
        "SK" => 24,
        "SM" => 27,
        "SO" => 23,
        "ST" => 25,
        "SV" => 28,
        "TL" => 23,
        "TN" => 24,
        "TR" => 26,
        "UA" => 29,
        "VA" => 22,
        "VG" => 24,
        "XK" => 20,
        "YE" => 30,
        _ => return None,
    };
    Some(n)
}

/// ISO 7064 mod 97-10 check of a compact, upper-case IBAN.
pub fn iban_mod97(iban: &[u8]) -> bool {
    if iban.len() < 5 {
        return false;
    }
    let mut rem: u32 = 0;
    for &c in iban[4..].iter().chain(&iban[..4]) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// US SSN structure: area not 000, 666 or 9xx; group not 00; serial not 0000.
pub fn ssn_valid(d: &[u8]) -> bool {
    if d.len() != 9 {
        return false;
    }
    let area = u32::from(d[0]) * 100 + u32::from(d[1]) * 10 + u32::from(d[2]);
    let group = u32::from(d[3]) * 10 + u32::from(d[4]);
    let serial = d[5..].iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0 && !d.iter().all(|&x| x == d[0])
}

/// US ITIN structure: 9xx, group 50-65, 70-88, 90-92 or 94-99.
pub fn itin_valid(d: &[u8]) -> bool {
    if d.len() != 9 || d[0] != 9 {
        return false;
    }
    let group = u32::from(d[3]) * 10 + u32::from(d[4]);
    matches!(group, 50..=65 | 70..=88 | 90..=92 | 94..=99)
}

/// UK NHS number: weights 10..2 over the first nine digits, mod 11.
pub fn nhs_valid(d: &[u8]) -> bool {
    if d.len() != 10 {
        return false;
    }
    let sum: u32 = d[..9].iter().zip((2..=10).rev()).map(|(&x, w)| u32::from(x) * w).sum();
    let check = 11 - sum % 11;
    let check = if check == 11 { 0 } else { check };
    check != 10 && check == u32::from(d[9])
}

/// Australian tax file number (9 digits), weighted mod 11.
pub fn tfn_valid(d: &[u8]) -> bool {
    const W: [u32; 9] = [1, 4, 3, 7, 5, 8, 6, 9, 10];
    d.len() == 9
        && d.iter()
            .zip(W)
            .map(|(&x, w)| u32::from(x) * w)
            .sum::<u32>()
            .is_multiple_of(11)
}

/// Australian Medicare number: first digit 2-6, weighted mod 10 check digit in position 9.
pub fn medicare_valid(d: &[u8]) -> bool {
    const W: [u32; 8] = [1, 3, 7, 9, 1, 3, 7, 9];
    if !(d.len() == 10 || d.len() == 11) || !(2..=6).contains(&d[0]) {
        return false;
    }
    let sum: u32 = d[..8].iter().zip(W).map(|(&x, w)| u32::from(x) * w).sum();
    sum % 10 == u32::from(d[8])
}

/// Singapore NRIC / FIN (S, T, F, G series): prefix letter, seven digits, check letter.
pub fn nric_valid(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 9 {
        return false;
    }
    let prefix = b[0].to_ascii_uppercase();
    let check = b[8].to_ascii_uppercase();
    const W: [u32; 7] = [2, 7, 6, 5, 4, 3, 2];
    let mut sum: u32 = b[1..8].iter().zip(W).map(|(&x, w)| u32::from(x - b'0') * w).sum();
    let table: &[u8; 11] = match prefix {
        b'S' | b'T' => b"JZIHGFEDCBA",
        b'F' | b'G' => b"XWUTRQPNMLK",
        _ => return false,
    };
    if matches!(prefix, b'T' | b'G') {
        sum += 4;
    }
    table[(sum % 11) as usize] == check
}

/// Spanish NIF (DNI): eight digits and a mod-23 letter.
pub fn es_nif_valid(s: &str) -> bool {
    let d = digits(s);
    let Some(letter) = s.bytes().rev().find(u8::is_ascii_alphabetic) else {
        return false;
    };
    if d.len() != 8 {
        return false;
    }
    let n = d.iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    b"TRWAGMYFPDXBNJZSQVHLCKE"[(n % 23) as usize] == letter.to_ascii_uppercase()
}

const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Bitcoin legacy / P2SH address: base58 decoding to 25 bytes with a double-SHA256 checksum.
pub fn base58check_btc(s: &str) -> bool {
    // big-endian base-256 accumulator
    let mut bytes: Vec<u8> = Vec::with_capacity(25);
    for c in s.bytes() {
        let Some(v) = BASE58.iter().position(|&x| x == c) else {
            return false;
        };
        let mut carry = v as u32;
        for b in bytes.iter_mut().rev() {
            carry += u32::from(*b) * 58;
            *b = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            bytes.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let zeros = s.bytes().take_while(|&c| c == b'1').count();
    let mut full = vec![0u8; zeros];
    full.extend_from_slice(&bytes);
    if full.len() != 25 || !(full[0] == 0x00 || full[0] == 0x05) {
        return false;
    }
    let h = Sha256::digest(Sha256::digest(&full[..21]));
    h[..4] == full[21..]
}

/// Bech32 / bech32m segwit address with the `bc` prefix.
pub fn bech32_btc(s: &str) -> bool {
    const CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    let has_lower = s.bytes().any(|c| c.is_ascii_lowercase());
    let has_upper = s.bytes().any(|c| c.is_ascii_uppercase());
    if has_lower && has_upper || s.len() < 14 || s.len() > 90 {
        return false;
    }
    let s = s.to_ascii_lowercase();
    let Some(sep) = s.rfind('1') else { return false };
    let (hrp, data) = (&s[..sep], &s[sep + 1..]);
    if hrp != "bc" || data.len() < 7 {
        return false;
    }
    let mut values = Vec::with_capacity(data.len());
    for c in data.bytes() {
        match CHARSET.iter().position(|&x| x == c) {
            Some(v) => values.push(v as u8),
            None => return false,
        }
    }
    let mut chk: u32 = 1;
    let mut feed = |v: u8| {
        const GEN: [u32; 5] = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
        let top = chk >> 25;
        chk = ((chk & 0x1ffffff) << 5) ^ u32::from(v);
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    };
    for c in hrp.bytes() {
        feed(c >> 5);
    }
    feed(0);
    for c in hrp.bytes() {
        feed(c & 31);
    }
    for &v in &values {
        feed(v);
    }
    let version = values[0];
    let expected = if version == 0 { 1 } else { 0x2bc830a3 };
    version <= 16 && chk == expected
}

/// Whether a numeric date with fields (a, b, year) can be a calendar date in either m/d or d/m order.
pub fn plausible_date(a: u32, b: u32) -> bool {
    (1..=12).contains(&a) && (1..=31).contains(&b) || (1..=12).contains(&b) && (1..=31).contains(&a)
}

/// US DEA registration number: a registrant-type letter, a second letter (the registrant's surname initial) or
/// `9`, and seven digits whose last is `(d1 + d3 + d5 + 2 * (d2 + d4 + d6)) mod 10`.
pub fn dea_valid(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 9 || !b"ABCDEFGHJKLMPRSTUX".contains(&b[0]) || !(b[1].is_ascii_uppercase() || b[1] == b'9') {
        return false;
    }
    if !b[2..].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let d: Vec<u32> = b[2..].iter().map(|&c| u32::from(c - b'0')).collect();
    let sum = d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5]);
    sum % 10 == d[6]
}

/// Italian fiscal code (codice fiscale): 16 characters whose last letter is a check character over the first
/// fifteen, with separate value tables for odd and even (1-based) positions.
pub fn it_fiscal_code_valid(s: &str) -> bool {
    // value at an odd position of the digit or letter with the same index (0 or A, 1 or B, ...)
    const ODD: [u32; 26] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
    ];
    let b: Vec<u8> = s.bytes().map(|c| c.to_ascii_uppercase()).collect();
    if b.len() != 16 || !b[15].is_ascii_uppercase() {
        return false;
    }
    let mut sum = 0u32;
    for (i, &c) in b[..15].iter().enumerate() {
        let index = match c {
            b'0'..=b'9' => usize::from(c - b'0'),
            b'A'..=b'Z' => usize::from(c - b'A'),
            _ => return false,
        };
        // positions 1, 3, 5, ... are odd, that is even indexes
        sum += if i % 2 == 0 { ODD[index] } else { index as u32 };
    }
    u32::from(b[15] - b'A') == sum % 26
}
