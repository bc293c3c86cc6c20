//! The second half of detection: a recognizer's raw match is checked (boundaries, checksums,
//! shapes) and becomes zero or more candidate spans. One function per family of recognizers;
//! [`Detector::validate`] routes each match to its family.

use super::*;

/// One raw match of a recognizer and the characters around it that the checks read.
#[derive(Clone, Copy)]
struct Matched<'t> {
    text: &'t str,
    start: usize,
    end: usize,
    /// `text[start..end]`.
    s: &'t str,
    before: Option<char>,
    after: Option<char>,
    after2: Option<char>,
}

/// A candidate span; `boostable` ones score [`CONTEXT_BOOST`] more next to a context word.
fn push_candidate(out: &mut Vec<Cand>, entity: EntityType, start: usize, end: usize, score: f32, boostable: bool) {
    let ctx_score = if boostable {
        (score + CONTEXT_BOOST).min(1.0)
    } else {
        score
    };
    out.push(Cand {
        entity,
        start,
        end,
        score,
        ctx_score,
        deferred_phone_check: false,
    })
}

impl Detector {
    pub(crate) fn validate(&self, rec: Rec, text: &str, start: usize, end: usize, out: &mut Vec<Cand>) {
        let matched = Matched {
            text,
            start,
            end,
            s: &text[start..end],
            before: text[..start].chars().next_back(),
            after: text[end..].chars().next(),
            after2: text[end..].chars().nth(1),
        };
        match rec {
            Rec::Email | Rec::Url | Rec::Ipv4 | Rec::Ipv6 => validate_network(rec, matched, out),
            Rec::Card | Rec::Iban | Rec::SsnItin => validate_financial(rec, matched, out),
            Rec::Base58 | Rec::Bech32 => validate_crypto(rec, matched, out),
            Rec::Nhs
            | Rec::Tfn
            | Rec::Medicare
            | Rec::Nric
            | Rec::Nif
            | Rec::Digits
            | Rec::ItVatPrefixed
            | Rec::LettersDigits
            | Rec::ItCardSpaced
            | Rec::ItLicenceU1
            | Rec::FiscalCode => validate_national_id(rec, matched, out),
            Rec::Date => validate_date(rec, matched, out),
            Rec::Phone => self.phone(text, start, end, matched.before, matched.after, out),
        }
    }

    fn phone(
        &self,
        text: &str,
        start: usize,
        end: usize,
        before: Option<char>,
        after: Option<char>,
        out: &mut Vec<Cand>,
    ) {
        let s = &text[start..end];
        // trim a trailing separator the permissive pattern may have picked up
        let s = s.trim_end_matches([' ', '.', '-', '(']);
        let end = start + s.len();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '.' || c == '/' || c == ':' || c == '-')
            || after.is_some_and(|c| c.is_alphanumeric() || c == '/' || c == ':')
        {
            return;
        }
        if after == Some('.') && text[end..].chars().nth(1).is_some_and(|c| c.is_ascii_digit()) {
            return;
        }
        let (main, ext) = split_extension(s);
        let groups: Vec<&str> = main
            .split(|c: char| !c.is_ascii_digit())
            .filter(|g| !g.is_empty())
            .collect();
        let ndigits: usize = groups.iter().map(|g| g.len()).sum();
        if !(7..=15).contains(&ndigits) {
            return;
        }
        let plus = main.starts_with('+');
        let paren = main.contains('(');
        let structured = groups.len() >= 2 || plus;
        if !structured {
            // a bare digit run: only with a context word and the library's blessing (checked after the context)
            out.push(Cand {
                entity: E::PHONE_NUMBER,
                start,
                end,
                score: 0.05,
                ctx_score: 0.7,
                deferred_phone_check: true,
            });
            return;
        }
        // shape checks: at most one group of a single digit (country or trunk code) and last group of 2+
        let singles = groups.iter().filter(|g| g.len() == 1).count();
        if singles > 1 || groups.last().is_some_and(|g| g.len() < 2) || groups.len() > 7 {
            return;
        }
        let seps: Vec<char> = main
            .trim_start_matches('+')
            .chars()
            .filter(|c| !c.is_ascii_digit() && *c != '(' && *c != ')')
            .collect();
        let dotted = seps.contains(&'.');
        // thousands-grouped numbers like 12 345 678 (space or dot), and dotted quads
        let thousands = !plus
            && !paren
            && groups[0].len() <= 3
            && groups[1..].iter().all(|g| g.len() == 3)
            && seps.iter().all(|&c| c == ' ' || c == '.' || c == ',');
        // dotted numbers are phones only in even groups (986.291.2294), not versions or IP-like quads
        let dotted_odd = dotted
            && (groups.iter().any(|g| g.len() < 2 || g.len() > 4)
                || groups.len() == 4 && groups.iter().all(|g| g.len() <= 3));
        // ISO dates (2023-01-05, 2023/01/05) are dates, whatever the phone metadata says
        let iso_date = groups.len() == 3
            && [4, 2, 2] == [groups[0].len(), groups[1].len(), groups[2].len()]
            && seps.iter().all(|&c| c == '-' || c == '/')
            && groups[1].parse::<u32>().is_ok_and(|m| (1..=12).contains(&m));
        if thousands || dotted_odd || iso_date {
            return;
        }
        let mixed_seps = {
            let mut k: Vec<char> = seps.iter().copied().filter(|&c| c != ' ').collect();
            k.dedup();
            k.len() > 1
        };
        if mixed_seps {
            return;
        }
        let score = if self.library_valid(main) { 0.75 } else { 0.45 };
        let _ = ext;
        out.push(Cand {
            entity: E::PHONE_NUMBER,
            start,
            end,
            score,
            ctx_score: (score + CONTEXT_BOOST).min(1.0),
            deferred_phone_check: false,
        });
    }
}

/// Checks a match of the network addresses: e-mail, URL, IPv4, IPv6.
fn validate_network(rec: Rec, matched: Matched<'_>, out: &mut Vec<Cand>) {
    let Matched {
        text,
        start,
        end,
        s,
        before,
        after,
        after2,
    } = matched;
    let mut push =
        |entity, start, end, score: f32, boostable: bool| push_candidate(out, entity, start, end, score, boostable);
    match rec {
        Rec::Email => {
            if before.is_some_and(|c| c.is_alphanumeric()) {
                return;
            }
            push(E::EMAIL_ADDRESS, start, end, 0.9, true);
        }
        Rec::Url => {
            if matches!(before, Some('@' | '.')) || before.is_some_and(|c| c.is_alphanumeric()) {
                return;
            }
            let trimmed = s.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '\'', '"']);
            let has_scheme = trimmed.contains("://") || trimmed.to_ascii_lowercase().starts_with("www.");
            if has_scheme && trimmed.len() < 8 {
                return;
            }
            push(
                E::URL,
                start,
                start + trimmed.len(),
                if has_scheme { 0.85 } else { 0.5 },
                true,
            );
        }
        Rec::Ipv4 => {
            let inside_run = |c: Option<char>, next: Option<char>| match c {
                Some('.') => next.is_some_and(|n| n.is_ascii_digit()),
                Some(c) => c.is_ascii_digit(),
                None => false,
            };
            let prev2 = text[..start].chars().rev().nth(1);
            if inside_run(before, prev2) || inside_run(after, after2) {
                return;
            }
            if Ipv4Addr::from_str(s).is_ok() {
                push(E::IP_ADDRESS, start, end, 0.95, true);
            }
        }
        Rec::Ipv6 => {
            let is_part = |c: char| c.is_ascii_hexdigit() || c == ':' || c.is_alphanumeric();
            if before.is_some_and(is_part) || after.is_some_and(is_part) {
                return;
            }
            let addr = s.split('%').next().unwrap_or(s);
            let groups = addr.split(':').filter(|g| !g.is_empty()).count();
            if groups >= 2 && Ipv6Addr::from_str(addr).is_ok() {
                push(E::IP_ADDRESS, start, end, 0.95, true);
            }
        }
        _ => unreachable!("validate_network got a recognizer of another family"),
    }
}

/// Checks a match of the financial numbers: cards, IBANs, US SSN and ITIN.
fn validate_financial(rec: Rec, matched: Matched<'_>, out: &mut Vec<Cand>) {
    let Matched {
        start,
        end,
        s,
        before,
        after,
        after2,
        ..
    } = matched;
    let mut push =
        |entity, start, end, score: f32, boostable: bool| push_candidate(out, entity, start, end, score, boostable);
    match rec {
        Rec::Card => {
            if adjacent_number(before, after, after2) {
                return;
            }
            let d = checks::digits(s);
            if checks::luhn(&d) && checks::known_iin(&d) {
                push(E::CREDIT_CARD, start, end, 1.0, false);
            }
        }
        Rec::Iban => {
            let upper: Vec<(usize, u8)> = s
                .bytes()
                .enumerate()
                .filter(|(_, b)| b.is_ascii_alphanumeric())
                .map(|(i, b)| (i, b.to_ascii_uppercase()))
                .collect();
            let cc = std::str::from_utf8(&[upper[0].1, upper[1].1]).unwrap_or("").to_string();
            let Some(len) = checks::iban_length(&cc) else { return };
            if upper.len() < len {
                return;
            }
            // the IBAN must end at a group boundary
            let last = upper[len - 1].0;
            if s.as_bytes().get(last + 1).is_some_and(u8::is_ascii_alphanumeric) {
                return;
            }
            let compact: Vec<u8> = upper[..len].iter().map(|&(_, b)| b).collect();
            if checks::iban_mod97(&compact) {
                push(E::IBAN_CODE, start, start + last + 1, 1.0, false);
            }
        }
        Rec::SsnItin => {
            if adjacent_number(before, after, after2) {
                return;
            }
            let d = checks::digits(s);
            let bare = d.len() == s.len();
            let (entity, ok) = if d[0] == 9 {
                (E::US_ITIN, checks::itin_valid(&d))
            } else {
                (E::US_SSN, checks::ssn_valid(&d))
            };
            if !ok {
                return;
            }
            let score = if bare {
                // nine bare digits count only next to a context word
                0.05
            } else if s.contains('-') {
                0.6
            } else {
                0.45
            };
            push(entity, start, end, score, true);
        }
        _ => unreachable!("validate_financial got a recognizer of another family"),
    }
}

/// Checks a match of the crypto wallet addresses.
fn validate_crypto(rec: Rec, matched: Matched<'_>, out: &mut Vec<Cand>) {
    let Matched { start, end, s, .. } = matched;
    let mut push =
        |entity, start, end, score: f32, boostable: bool| push_candidate(out, entity, start, end, score, boostable);
    match rec {
        Rec::Base58 => {
            if checks::base58check_btc(s) {
                push(E::CRYPTO, start, end, 1.0, false);
            }
        }
        Rec::Bech32 => {
            if checks::bech32_btc(s) {
                push(E::CRYPTO, start, end, 1.0, false);
            }
        }
        _ => unreachable!("validate_crypto got a recognizer of another family"),
    }
}

/// Checks a match of the national identifiers: UK NHS, AU TFN and Medicare, SG NRIC, ES NIF, the context-gated digit runs and the Italian codes.
fn validate_national_id(rec: Rec, matched: Matched<'_>, out: &mut Vec<Cand>) {
    let Matched {
        start,
        end,
        s,
        before,
        after,
        after2,
        ..
    } = matched;
    let mut push =
        |entity, start, end, score: f32, boostable: bool| push_candidate(out, entity, start, end, score, boostable);
    match rec {
        Rec::Nhs | Rec::Tfn | Rec::Medicare => {
            if adjacent_number(before, after, after2) {
                return;
            }
            let d = checks::digits(s);
            let (entity, ok) = match rec {
                Rec::Nhs => (E::UK_NHS, checks::nhs_valid(&d)),
                Rec::Tfn => (E::AU_TFN, checks::tfn_valid(&d)),
                _ => (E::AU_MEDICARE, checks::medicare_valid(&d)),
            };
            // weak checksums on phone-shaped digit groups: confident only next to a context word
            if ok {
                let bare = d.len() == s.len();
                out.push(Cand {
                    entity,
                    start,
                    end,
                    score: if bare { 0.05 } else { 0.4 },
                    ctx_score: 1.0,
                    deferred_phone_check: false,
                });
            }
        }
        Rec::Nric => {
            if checks::nric_valid(s) {
                push(E::SG_NRIC_FIN, start, end, 1.0, false);
            }
        }
        Rec::Nif => {
            if checks::es_nif_valid(s) {
                push(E::ES_NIF, start, end, 1.0, false);
            }
        }
        Rec::Digits => {
            if adjacent_number(before, after, after2) {
                return;
            }
            let d = checks::digits(s);
            if d.iter().all(|&x| x == d[0]) {
                return;
            }
            let mut weak = |entity, score: f32, ctx_score: f32| {
                out.push(Cand {
                    entity,
                    start,
                    end,
                    score,
                    ctx_score,
                    deferred_phone_check: false,
                })
            };
            // bare digit runs are everything and nothing: they count only next to a context word
            if (8..=17).contains(&d.len()) {
                weak(E::US_BANK_NUMBER, 0.05, 0.6);
            }
            if d.len() == 9 {
                weak(E::US_PASSPORT, 0.05, 0.6);
            }
            if (6..=14).contains(&d.len()) {
                weak(E::US_DRIVER_LICENSE, 0.05, 0.6);
            }
            if d.len() == 11 && checks::luhn(&d) {
                weak(E::IT_VAT_CODE, 0.1, 0.75);
            }
        }
        Rec::ItVatPrefixed => {
            if adjacent_number(before, after, after2) {
                return;
            }
            if checks::luhn(&checks::digits(s)) {
                push(E::IT_VAT_CODE, start, end, 0.6, true);
            }
        }
        Rec::LettersDigits => {
            if matches!(before, Some('-' | '/' | '.')) || matches!(after, Some('-' | '/')) {
                return;
            }
            let b = s.as_bytes();
            let letters = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
            let digits = b[letters..].iter().take_while(|c| c.is_ascii_digit()).count();
            let tail = b.len() - letters - digits;
            let mut weak = |entity, score: f32, ctx_score: f32| {
                out.push(Cand {
                    entity,
                    start,
                    end,
                    score,
                    ctx_score,
                    deferred_phone_check: false,
                })
            };
            if (letters == 2 && digits == 7 || letters == 1 && digits == 8) && tail == 0 && checks::dea_valid(s) {
                weak(E::MEDICAL_LICENSE, 0.5, 0.85);
            }
            match (letters, digits, tail) {
                (2, 7, 0) => {
                    weak(E::IT_PASSPORT, 0.05, 0.65);
                    weak(E::IT_IDENTITY_CARD, 0.05, 0.6);
                }
                (2, 7, 1) => weak(E::IT_DRIVER_LICENSE, 0.1, 0.65),
                (2, 5, 2) => weak(E::IT_IDENTITY_CARD, 0.1, 0.65),
                (1, 8, 0) => weak(E::US_PASSPORT, 0.05, 0.6),
                _ => {}
            }
            if tail == 0 || letters == 1 {
                weak(E::US_DRIVER_LICENSE, 0.05, 0.6);
            }
        }
        Rec::ItCardSpaced => {
            if adjacent_number(before, after, after2) {
                return;
            }
            out.push(Cand {
                entity: E::IT_IDENTITY_CARD,
                start,
                end,
                score: 0.1,
                ctx_score: 0.65,
                deferred_phone_check: false,
            });
        }
        Rec::ItLicenceU1 => out.push(Cand {
            entity: E::IT_DRIVER_LICENSE,
            start,
            end,
            score: 0.2,
            ctx_score: 0.7,
            deferred_phone_check: false,
        }),
        Rec::FiscalCode => {
            if checks::it_fiscal_code_valid(s) {
                push(E::IT_FISCAL_CODE, start, end, 0.9, true);
            }
        }
        _ => unreachable!("validate_national_id got a recognizer of another family"),
    }
}

/// Checks a match of the dates and times.
fn validate_date(rec: Rec, matched: Matched<'_>, out: &mut Vec<Cand>) {
    let Matched { start, end, s, .. } = matched;
    let mut push =
        |entity, start, end, score: f32, boostable: bool| push_candidate(out, entity, start, end, score, boostable);
    match rec {
        Rec::Date => {
            if let Some(score) = date_score(s) {
                push(E::DATE_TIME, start, end, score, true);
            }
        }
        _ => unreachable!("validate_date got a recognizer of another family"),
    }
}
