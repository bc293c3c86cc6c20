//! Byte-exact reproduction of Python's `json.dumps` output (default `ensure_ascii=True`, `", "`
//! and `": "` separators), so hashes and dedup keys computed here agree with the ones the Python
//! pipeline produced, plus the surrogate clean-up Python applied before encoding text as UTF-8.

use std::borrow::Cow;

use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};

/// Appends Python's `json.dumps(value, sort_keys=True)` (default ensure_ascii=True, separators ", " and ": ").
pub fn write_python_json_sorted(value: &Value, out: &mut Vec<u8>) {
    write_value(value, true, out);
}

/// Appends Python's plain `json.dumps(value)`: keys in the map's insertion order.
pub fn write_python_json(value: &Value, out: &mut Vec<u8>) {
    write_value(value, false, out);
}

/// Appends a string as Python json.dumps writes it with ensure_ascii=True, including the quotes.
pub fn write_python_str(text: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut run_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Skip plain ASCII eight bytes at a time; most text is long runs of it.
        while i + 8 <= bytes.len() {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[i..i + 8]);
            if !needs_escape_swar(u64::from_le_bytes(word)) {
                i += 8;
            } else {
                break;
            }
        }
        if i >= bytes.len() {
            break;
        }
        let b = bytes[i];
        if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
            i += 1;
            continue;
        }
        out.extend_from_slice(&bytes[run_start..i]);
        if b < 0x80 {
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                // Other C0 controls and DEL: Python only leaves ' '..='~' unescaped.
                _ => push_u_escape(u32::from(b), out),
            }
            i += 1;
        } else {
            // `i` is always a char boundary of valid UTF-8 here (runs only stop on the first
            // byte of a char), so decode the sequence directly.
            let continuation = |offset: usize| u32::from(bytes.get(i + offset).copied().unwrap_or(0x80) & 0x3f);
            let (cp, width) = match b {
                0xc0..=0xdf => ((u32::from(b & 0x1f) << 6) | continuation(1), 2),
                0xe0..=0xef => (
                    (u32::from(b & 0x0f) << 12) | (continuation(1) << 6) | continuation(2),
                    3,
                ),
                _ => (
                    (u32::from(b & 0x07) << 18) | (continuation(1) << 12) | (continuation(2) << 6) | continuation(3),
                    4,
                ),
            };
            if cp > 0xffff {
                // Python escapes astral chars as the UTF-16 surrogate pair.
                let v = cp - 0x1_0000;
                push_u_escape(0xd800 + (v >> 10), out);
                push_u_escape(0xdc00 + (v & 0x3ff), out);
            } else {
                push_u_escape(cp, out);
            }
            i += width;
        }
        run_start = i;
    }
    out.extend_from_slice(&bytes[run_start..]);
    out.push(b'"');
}

/// sha256 of `json.dumps([{"content": c, "role": r}, ...])` (plain, keys in that order), lowercase hex, first 32 hex chars.
pub fn conversation_hash<'a>(turns: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut buf = Vec::with_capacity(256);
    buf.push(b'[');
    for (index, (content, role)) in turns.into_iter().enumerate() {
        if index > 0 {
            buf.extend_from_slice(b", ");
        }
        buf.extend_from_slice(b"{\"content\": ");
        write_python_str(content, &mut buf);
        buf.extend_from_slice(b", \"role\": ");
        write_python_str(role, &mut buf);
        buf.push(b'}');
    }
    buf.push(b']');
    let mut hex = hex::encode(Sha256::digest(&buf));
    hex.truncate(32);
    hex
}

/// Removes lone UTF-16 surrogate escapes from raw JSON text before it is parsed, the way
/// Python's `s.encode('utf-8', errors='ignore')` drops them after `json.loads`. Returns the cleaned text
/// (borrowed when nothing changed) and the number of lone surrogates removed.
pub fn strip_lone_surrogates(raw_json: &str) -> (Cow<'_, str>, usize) {
    let bytes = raw_json.as_bytes();
    // Almost no record holds a surrogate escape at all, so look for `\u[dD][89a-fA-F]` first and
    // only pay for the escape-aware walk when one might be present.
    let maybe_surrogate = memchr::memmem::find_iter(bytes, b"\\u").any(|at| {
        matches!(bytes.get(at + 2), Some(b'd' | b'D'))
            && matches!(bytes.get(at + 3), Some(b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F'))
    });
    if !maybe_surrogate {
        return (Cow::Borrowed(raw_json), 0);
    }

    let mut out = String::with_capacity(raw_json.len());
    let mut removed = 0;
    let mut copied_up_to = 0;
    let mut i = 0;
    // Walking from the start keeps backslash parity right: in `\\ud800` the `\u` is not an escape.
    // `i` never passes the end: a backslash as the last byte (a truncated line) ends the walk.
    while let Some(found) = memchr::memchr(b'\\', &bytes[i..]) {
        let at = i + found;
        let Some(unit) = u_escape_at(bytes, at) else {
            // Any other escape covers exactly one more byte; skipping it keeps `\\` from pairing up
            // with a following `u`.
            i = (at + 2).min(bytes.len());
            continue;
        };
        match unit {
            0xd800..=0xdbff => {
                if matches!(u_escape_at(bytes, at + 6), Some(0xdc00..=0xdfff)) {
                    i = at + 12;
                    continue;
                }
            }
            0xdc00..=0xdfff => {}
            _ => {
                i = at + 6;
                continue;
            }
        }
        // Every cut point sits on an ASCII backslash, so these slices are on char boundaries.
        out.push_str(&raw_json[copied_up_to..at]);
        copied_up_to = at + 6;
        removed += 1;
        i = at + 6;
    }
    if removed == 0 {
        return (Cow::Borrowed(raw_json), 0);
    }
    out.push_str(&raw_json[copied_up_to..]);
    (Cow::Owned(out), removed)
}

/// Decodes the code unit of a `\uXXXX` escape starting at `at`, if one is there.
fn u_escape_at(bytes: &[u8], at: usize) -> Option<u32> {
    let escape = bytes.get(at..at + 6)?;
    if escape[0] != b'\\' || escape[1] != b'u' {
        return None;
    }
    escape[2..]
        .iter()
        .try_fold(0u32, |acc, &b| Some(acc * 16 + char::from(b).to_digit(16)?))
}

fn write_value(value: &Value, sort_keys: bool, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => write_number(number, out),
        Value::String(text) => write_python_str(text, out),
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.extend_from_slice(b", ");
                }
                write_value(item, sort_keys, out);
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(map, sort_keys, out),
    }
}

fn write_object(map: &Map<String, Value>, sort_keys: bool, out: &mut Vec<u8>) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    if sort_keys {
        // UTF-8 byte order equals code point order, which is how Python compares str.
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    }
    out.push(b'{');
    for (index, (key, item)) in entries.into_iter().enumerate() {
        if index > 0 {
            out.extend_from_slice(b", ");
        }
        write_python_str(key, out);
        out.extend_from_slice(b": ");
        write_value(item, sort_keys, out);
    }
    out.push(b'}');
}

fn write_number(number: &Number, out: &mut Vec<u8>) {
    if let Some(n) = number.as_u64() {
        write_u64(n, out);
    } else if let Some(n) = number.as_i64() {
        if n < 0 {
            out.push(b'-');
        }
        write_u64(n.unsigned_abs(), out);
    } else if let Some(f) = number.as_f64() {
        write_python_float(f, out);
    }
}

fn write_u64(mut n: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        // `n % 10` is below 10, so the narrowing cannot lose anything.
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// Writes `repr(float)` the way `json.dumps` does for floats (`float.__repr__`, plus JavaScript
/// names for the non-finite values).
fn write_python_float(f: f64, out: &mut Vec<u8>) {
    if f.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if f.is_infinite() {
        out.extend_from_slice(if f > 0.0 { b"Infinity" } else { b"-Infinity" });
        return;
    }
    // Rust's `{:e}` yields the same shortest round-trip digits as Python's repr, only laid out
    // differently ("1.2345e-7", "-0e0"), so reuse the digits and redo the layout.
    let (mut digits, mut exponent) = sci_digits(&format!("{:e}", f.abs()));
    // Two equally short digit strings can only both round-trip when they are ~1e-16 apart
    // relative to the value, i.e. at 16 or 17 digits; 15 leaves margin.
    if digits.len() >= 15 {
        prefer_even_on_tie(f.abs(), &mut digits, &mut exponent);
    }
    if f.is_sign_negative() {
        out.push(b'-');
    }
    let n = digits.len() as i64;
    // Python's 'r' format switches to scientific notation outside 1e-4 <= |f| < 1e16.
    if (-4..16).contains(&exponent) {
        if exponent < 0 {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat_n(b'0', (-exponent - 1) as usize));
            out.extend_from_slice(&digits);
        } else if exponent >= n - 1 {
            out.extend_from_slice(&digits);
            out.extend(std::iter::repeat_n(b'0', (exponent - (n - 1)) as usize));
            out.extend_from_slice(b".0");
        } else {
            let point = (exponent + 1) as usize;
            out.extend_from_slice(&digits[..point]);
            out.push(b'.');
            out.extend_from_slice(&digits[point..]);
        }
    } else {
        out.extend_from_slice(&digits[..1]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exponent < 0 { b'-' } else { b'+' });
        let magnitude = exponent.unsigned_abs();
        if magnitude < 10 {
            out.push(b'0');
        }
        write_u64(magnitude, out);
    }
}

/// Python's dtoa breaks an exact tie between two equally short, equally close digit strings
/// towards the even last digit (690182792108531.25 -> `690182792108531.2`); Rust's shortest
/// formatting rounds such ties up. `digits`/`exponent` hold Rust's choice and are replaced by
/// the even neighbour when the value lies exactly halfway and that neighbour round-trips.
fn prefer_even_on_tie(x: f64, digits: &mut Vec<u8>, exponent: &mut i64) {
    let n = digits.len();
    // Cheap screen: one more correctly rounded digit must be a 5 for a tie to be possible.
    if sci_digits(&format!("{:.*e}", n, x)).0.get(n) != Some(&b'5') {
        return;
    }
    // A finite f64 has at most 767 significant decimal digits, so this expansion is exact.
    let (exact, exact_exponent) = sci_digits(&format!("{:.780e}", x));
    if exact.get(n) != Some(&b'5') || exact[n + 1..].iter().any(|&d| d != b'0') {
        return;
    }
    let mut candidate = exact[..n].to_vec();
    let mut candidate_exponent = exact_exponent;
    if candidate[n - 1] % 2 == 1 {
        // Round the odd lower neighbour up to the even one, carrying through nines.
        let mut at = n;
        loop {
            if at == 0 {
                candidate.insert(0, b'1');
                candidate.pop();
                candidate_exponent += 1;
                break;
            }
            at -= 1;
            if candidate[at] == b'9' {
                candidate[at] = b'0';
            } else {
                candidate[at] += 1;
                break;
            }
        }
    }
    while candidate.len() > 1 && candidate.last() == Some(&b'0') {
        candidate.pop();
    }
    if candidate == *digits && candidate_exponent == *exponent {
        return;
    }
    let mut text = String::with_capacity(candidate.len() + 8);
    text.push(char::from(candidate[0]));
    text.push('.');
    text.extend(candidate[1..].iter().map(|&d| char::from(d)));
    text.push_str(&format!("e{candidate_exponent}"));
    if text.parse::<f64>() == Ok(x) {
        *digits = candidate;
        *exponent = candidate_exponent;
    }
}

/// Splits Rust's `{:e}` output into its mantissa digits and decimal exponent.
fn sci_digits(sci: &str) -> (Vec<u8>, i64) {
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci, "0"));
    (
        mantissa.bytes().filter(u8::is_ascii_digit).collect(),
        exponent.parse().unwrap_or(0),
    )
}

/// Whether any of the eight bytes is below 0x20, at or above 0x7f, `"` or `\\`
/// (the classic "has a byte less than / equal to" bit tricks).
fn needs_escape_swar(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |value: u64| value.wrapping_sub(ONES) & !value & HIGH;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    // Bytes >= 0x7f: adding 1 to 0x7f sets the high bit; bytes >= 0x80 have it already.
    let at_or_above_del = (word | (word & !HIGH).wrapping_add(ONES)) & HIGH;
    let quote = has_zero(word ^ (ONES * u64::from(b'"')));
    let backslash = has_zero(word ^ (ONES * u64::from(b'\\')));
    (below_space | at_or_above_del | quote | backslash) != 0
}

fn push_u_escape(unit: u32, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digit = |shift: u32| HEX[((unit >> shift) & 0xf) as usize];
    // One extend instead of six pushes: this is the hot path for non-Latin text.
    out.extend_from_slice(&[b'\\', b'u', digit(12), digit(8), digit(4), digit(0)]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::Write as _;
    use std::process::Command;

    fn dumps(value: &Value) -> String {
        let mut out = Vec::new();
        write_python_json(value, &mut out);
        String::from_utf8(out).expect("output is ascii")
    }

    fn dumps_sorted(value: &Value) -> String {
        let mut out = Vec::new();
        write_python_json_sorted(value, &mut out);
        String::from_utf8(out).expect("output is ascii")
    }

    fn float(f: f64) -> String {
        let mut out = Vec::new();
        write_python_float(f, &mut out);
        String::from_utf8(out).expect("output is ascii")
    }

    fn py_str(text: &str) -> String {
        let mut out = Vec::new();
        write_python_str(text, &mut out);
        String::from_utf8(out).expect("output is ascii")
    }

    /// Found by the fuzz harness: a line cut right after a backslash, with a surrogate escape
    /// earlier in it, made the walk slice past the end and panic the map job.
    #[test]
    fn a_trailing_backslash_after_a_surrogate_escape_does_not_panic() {
        for raw in ["\"\\ud800 x\\", "\\ud800\\", "\\udc00\\\\\\", "\\ud83d\\"] {
            let (cleaned, removed) = strip_lone_surrogates(raw);
            assert_eq!(removed, 1, "{raw}");
            assert!(cleaned.ends_with('\\'), "{raw} -> {cleaned}");
        }
    }

    #[test]
    fn swar_escape_check_agrees_with_the_byte_rule_for_every_byte_in_every_lane() {
        for byte in 0u8..=255 {
            for lane in 0..8 {
                let mut word = [b'a'; 8];
                word[lane] = byte;
                let expected = !(0x20..0x7f).contains(&byte) || byte == b'"' || byte == b'\\';
                assert_eq!(
                    needs_escape_swar(u64::from_le_bytes(word)),
                    expected,
                    "byte {byte:#x} lane {lane}"
                );
            }
        }
    }

    #[test]
    fn floats_follow_python_repr() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (9999999999999998.0, "9999999999999998.0"),
            (1.5e16, "1.5e+16"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.00012345, "0.00012345"),
            (1.2345e-7, "1.2345e-07"),
            (1e22, "1e+22"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (0.1 + 0.2, "0.30000000000000004"),
            (690182792108531.2, "690182792108531.2"),
            (690182792108531.4, "690182792108531.4"),
            (123.456, "123.456"),
            (-2.5, "-2.5"),
            (100.0, "100.0"),
            (-1e-7, "-1e-07"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for &(f, want) in cases {
            assert_eq!(float(f), want, "repr of {f:?}");
        }
    }

    #[test]
    fn integers_are_plain_decimal() {
        assert_eq!(dumps(&json!(0)), "0");
        assert_eq!(dumps(&json!(u64::MAX)), "18446744073709551615");
        assert_eq!(dumps(&json!(i64::MIN)), "-9223372036854775808");
        assert_eq!(dumps(&json!(-17)), "-17");
    }

    #[test]
    fn strings_use_ascii_escapes() {
        assert_eq!(py_str("a\"b\\c/d"), r#""a\"b\\c/d""#);
        assert_eq!(py_str("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
        assert_eq!(py_str("\0\u{1}\u{1f}"), r#""\u0000\u0001\u001f""#);
        assert_eq!(py_str("\u{7f}"), r#""\u007f""#);
        assert_eq!(py_str("~ "), r#""~ ""#);
        assert_eq!(py_str("\u{2028}\u{2029}"), r#""\u2028\u2029""#);
        assert_eq!(py_str("é\u{ff}\u{100}"), r#""\u00e9\u00ff\u0100""#);
        assert_eq!(py_str("中文"), r#""\u4e2d\u6587""#);
        assert_eq!(py_str("😀"), r#""\ud83d\ude00""#);
        assert_eq!(py_str("\u{10ffff}"), r#""\udbff\udfff""#);
        assert_eq!(py_str("e\u{301}"), r#""e\u0301""#);
        assert_eq!(py_str(""), r#""""#);
    }

    #[test]
    fn containers_use_python_separators() {
        assert_eq!(dumps(&json!([])), "[]");
        assert_eq!(dumps(&json!({})), "{}");
        assert_eq!(dumps(&json!([null, true, false])), "[null, true, false]");
        let nested = json!({"b": [1, {"z": [], "a": {}}], "a": "x", "c": null});
        assert_eq!(dumps(&nested), r#"{"b": [1, {"z": [], "a": {}}], "a": "x", "c": null}"#);
        assert_eq!(
            dumps_sorted(&nested),
            r#"{"a": "x", "b": [1, {"a": {}, "z": []}], "c": null}"#
        );
    }

    #[test]
    fn sort_keys_uses_code_point_order() {
        let value = json!({"é": 1, "z": 2, "Z": 3, "😀": 4, "\u{ffff}": 5, "": 6, "a": 7});
        assert_eq!(
            dumps_sorted(&value),
            r#"{"": 6, "Z": 3, "a": 7, "z": 2, "\u00e9": 1, "\uffff": 5, "\ud83d\ude00": 4}"#
        );
    }

    #[test]
    fn conversation_hash_hashes_the_plain_dump() {
        let turns = [("hi", "user"), ("hello\n", "assistant")];
        let text = r#"[{"content": "hi", "role": "user"}, {"content": "hello\n", "role": "assistant"}]"#;
        let mut want = hex::encode(Sha256::digest(text.as_bytes()));
        want.truncate(32);
        assert_eq!(conversation_hash(turns), want);
        let mut empty = hex::encode(Sha256::digest(b"[]"));
        empty.truncate(32);
        assert_eq!(conversation_hash(std::iter::empty()), empty);
    }

    fn strip(raw: &str) -> (String, usize) {
        let (text, n) = strip_lone_surrogates(raw);
        (text.into_owned(), n)
    }

    #[test]
    fn strip_lone_surrogates_cases() {
        assert!(matches!(
            strip_lone_surrogates(r#""plain \u00e9 \\ text""#),
            (Cow::Borrowed(_), 0)
        ));
        assert_eq!(strip(r#""a\ud800b""#), (r#""ab""#.into(), 1));
        assert_eq!(strip(r#""a\uDC00b""#), (r#""ab""#.into(), 1));
        assert_eq!(strip(r#""\udc00\ud800""#), (r#""""#.into(), 2));
        assert_eq!(strip(r#""\ud83d\ude00""#).1, 0);
        assert_eq!(strip(r#""\uD83D\uDE00""#).1, 0);
        assert!(matches!(strip_lone_surrogates(r#""\ud83d\ude00""#).0, Cow::Borrowed(_)));
        assert_eq!(strip(r#""\\ud800""#), (r#""\\ud800""#.into(), 0));
        assert_eq!(strip(r#""\\\ud800""#), (r#""\\""#.into(), 1));
        assert_eq!(strip(r#""x\ud800""#), (r#""x""#.into(), 1));
        assert_eq!(strip(r#"x\ud800"#), ("x".into(), 1));
        assert_eq!(strip(r#""\ud800\ud83d\ude00""#), (r#""\ud83d\ude00""#.into(), 1));
        assert_eq!(strip(r#""\ud800\u0041""#), (r#""\u0041""#.into(), 1));
        assert_eq!(
            strip(r#"{"a\udfff": ["\udbff", "é\uDAAA\uDAAA"]}"#),
            (r#"{"a": ["", "é"]}"#.into(), 4)
        );
        // Truncated escapes are left for the JSON parser to reject.
        assert_eq!(strip(r#""\ud8"#), (r#""\ud8"#.into(), 0));
    }

    /// Tiny deterministic generator so the cross-checks need no `rand`.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len() as u64) as usize]
        }
    }

    fn random_char(rng: &mut XorShift) -> char {
        let from_range = |rng: &mut XorShift, lo: u32, hi: u32| {
            char::from_u32(lo + rng.below(u64::from(hi - lo + 1)) as u32).unwrap_or('?')
        };
        match rng.below(14) {
            0..=3 => from_range(rng, 0x20, 0x7e),
            4 => *rng.pick(&['"', '\\', '/', '\'']),
            5 => from_range(rng, 0, 0x1f),
            6 => *rng.pick(&['\u{7f}', '\u{2028}', '\u{2029}', '\u{85}', '\u{feff}', '\u{ffff}']),
            7 => from_range(rng, 0x80, 0xff),
            8 => from_range(rng, 0x4e00, 0x9fff),
            9 => from_range(rng, 0x1f300, 0x1faff),
            10 => from_range(rng, 0x10000, 0x10ffff),
            11 => from_range(rng, 0x300, 0x36f),
            12 => from_range(rng, 0x100, 0xd7ff),
            _ => from_range(rng, 0xe000, 0xfffd),
        }
    }

    fn random_string(rng: &mut XorShift) -> String {
        let len = rng.below(24);
        (0..len).map(|_| random_char(rng)).collect()
    }

    fn random_float(rng: &mut XorShift) -> f64 {
        const TRICKY: &[f64] = &[
            0.0,
            -0.0,
            1.0,
            1e16,
            1e15,
            9999999999999998.0,
            1e-4,
            1e-5,
            0.00012,
            1e22,
            1e23,
            5e-324,
            2.2250738585072014e-308,
            f64::MAX,
            f64::MIN,
            0.1,
            0.30000000000000004,
            123456789.125,
            -1.5e-7,
            1.7976931348623157e308,
            4.35,
            2.5,
            1e300,
        ];
        if rng.below(3) == 0 {
            return *rng.pick(TRICKY);
        }
        loop {
            let f = match rng.below(5) {
                0 => f64::from_bits(rng.next()),
                // Short exact binary expansions are where shortest-digit ties live.
                3 => (rng.next() >> 11) as f64 * 2f64.powi(rng.below(12) as i32 - 6),
                4 => rng.next() as f64 * 2f64.powi(rng.below(80) as i32),
                1 => (rng.next() as i64 as f64) / 10f64.powi(rng.below(30) as i32),
                _ => (rng.below(2_000_000) as f64 - 1_000_000.0) * 10f64.powi(rng.below(40) as i32 - 20),
            };
            if f.is_finite() {
                return f;
            }
        }
    }

    fn random_value(rng: &mut XorShift, depth: u32) -> Value {
        let kind = if depth >= 4 { rng.below(6) } else { rng.below(9) };
        match kind {
            0 => Value::Null,
            1 => Value::Bool(rng.below(2) == 0),
            2 => match rng.below(4) {
                0 => json!(rng.next()),
                1 => json!(rng.next() as i64),
                2 => json!(rng.below(1000) as i64 - 500),
                _ => json!(*rng.pick(&[u64::MAX, 0, i64::MAX as u64])),
            },
            3 => json!(*rng.pick(&[i64::MIN, -1])),
            4 => Number::from_f64(random_float(rng)).map_or(Value::Null, Value::Number),
            5 => Value::String(random_string(rng)),
            6 | 7 => {
                let len = rng.below(6);
                let mut map = Map::new();
                for _ in 0..len {
                    map.insert(random_string(rng), random_value(rng, depth + 1));
                }
                Value::Object(map)
            }
            _ => {
                let len = rng.below(6);
                Value::Array((0..len).map(|_| random_value(rng, depth + 1)).collect())
            }
        }
    }

    /// Runs `python3 -c script file` over JSON lines and returns its stdout lines. A missing
    /// interpreter fails the test: these checks are the reason the module can claim exactness.
    fn run_python(script: &str, lines: &[String]) -> Vec<String> {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        for line in lines {
            file.write_all(line.as_bytes()).expect("write input");
            file.write_all(b"\n").expect("write input");
        }
        file.flush().expect("flush input");
        let output = Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(file.path())
            .output()
            .expect("python3 must be on PATH for the cross-check tests");
        assert!(
            output.status.success(),
            "python3 failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .expect("python output is utf-8")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    // Splitting on '\n' alone matters: str.splitlines() would also split on U+2028 and friends.
    const PY_DUMPS: &str = r#"
import json, sys
data = open(sys.argv[1], encoding="utf-8").read()
for line in data.split("\n"):
    if not line:
        continue
    x = json.loads(line)
    print(json.dumps(x, sort_keys=True))
    print(json.dumps(x))
"#;

    #[test]
    fn matches_python_json_dumps() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut values: Vec<Value> = (0..1200).map(|_| Value::String(random_string(&mut rng))).collect();
        values.extend((0..400).map(|_| random_value(&mut rng, 0)));
        values.extend((0..5000).map(|_| Number::from_f64(random_float(&mut rng)).map_or(Value::Null, Value::Number)));
        let lines: Vec<String> = values
            .iter()
            .map(|v| serde_json::to_string(v).expect("serialize input"))
            .collect();
        let py = run_python(PY_DUMPS, &lines);
        assert_eq!(py.len(), values.len() * 2, "python output line count");
        for (index, value) in values.iter().enumerate() {
            let sorted = dumps_sorted(value);
            assert_eq!(
                sorted,
                py[2 * index],
                "sort_keys mismatch for input line {index}: {}",
                lines[index]
            );
            let plain = dumps(value);
            assert_eq!(
                plain,
                py[2 * index + 1],
                "plain mismatch for input line {index}: {}",
                lines[index]
            );
        }
    }

    #[test]
    fn conversation_hash_matches_python() {
        const SCRIPT: &str = r#"
import hashlib, json, sys
data = open(sys.argv[1], encoding="utf-8").read()
for line in data.split("\n"):
    if not line:
        continue
    turns = json.loads(line)
    text = json.dumps([{"content": c, "role": r} for c, r in turns])
    print(hashlib.sha256(text.encode()).hexdigest()[:32])
"#;
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        let roles = ["user", "assistant", "system", "tool", "Üser"];
        let conversations: Vec<Vec<(String, String)>> = (0..300)
            .map(|_| {
                (0..rng.below(6))
                    .map(|_| (random_string(&mut rng), (*rng.pick(&roles)).to_owned()))
                    .collect()
            })
            .collect();
        let lines: Vec<String> = conversations
            .iter()
            .map(|turns| serde_json::to_string(turns).expect("serialize input"))
            .collect();
        let py = run_python(SCRIPT, &lines);
        assert_eq!(py.len(), conversations.len(), "python output line count");
        for (index, turns) in conversations.iter().enumerate() {
            let ours = conversation_hash(turns.iter().map(|(c, r)| (c.as_str(), r.as_str())));
            assert_eq!(
                ours, py[index],
                "hash mismatch for input line {index}: {}",
                lines[index]
            );
        }
    }

    #[test]
    fn strip_lone_surrogates_matches_python() {
        const SCRIPT: &str = r#"
import json, sys
data = open(sys.argv[1], encoding="utf-8").read()
for line in data.split("\n"):
    if not line:
        continue
    s = json.loads(line)
    lone = sum(1 for ch in s if 0xD800 <= ord(ch) <= 0xDFFF)
    print(json.dumps([s.encode("utf-8", errors="ignore").decode("utf-8"), lone]))
"#;
        let mut rng = XorShift(0xdead_beef_cafe_f00d);
        let pieces = |rng: &mut XorShift| -> String {
            let hex4 = |rng: &mut XorShift, lo: u32, hi: u32| {
                let unit = lo + rng.below(u64::from(hi - lo + 1)) as u32;
                if rng.below(2) == 0 {
                    format!("\\u{unit:04x}")
                } else {
                    format!("\\u{unit:04X}")
                }
            };
            match rng.below(10) {
                0 => hex4(rng, 0xd800, 0xdbff),
                1 => hex4(rng, 0xdc00, 0xdfff),
                2 => hex4(rng, 0xd800, 0xdbff) + &hex4(rng, 0xdc00, 0xdfff),
                3 => "\\\\".into(),
                4 => (*rng.pick(&["\\n", "\\\"", "\\/", "\\u0041", "\\u00e9", "\\ud7ff", "\\ue000"])).into(),
                5 => "\\\\ud800".into(),
                6 => hex4(rng, 0, 0xffff),
                _ => {
                    let c = random_char(rng);
                    match c {
                        '"' | '\\' | '\0'..='\u{1f}' => "x".into(),
                        _ => c.to_string(),
                    }
                }
            }
        };
        let raws: Vec<String> = (0..600)
            .map(|_| {
                let body: String = (0..rng.below(12)).map(|_| pieces(&mut rng)).collect();
                format!("\"{body}\"")
            })
            .collect();
        let py = run_python(SCRIPT, &raws);
        assert_eq!(py.len(), raws.len(), "python output line count");
        for (index, raw) in raws.iter().enumerate() {
            let (cleaned, removed) = strip_lone_surrogates(raw);
            let ours: String = serde_json::from_str(&cleaned)
                .unwrap_or_else(|e| panic!("cleaned text of {raw} does not parse: {e}: {cleaned}"));
            let (want, want_removed): (String, usize) = serde_json::from_str(&py[index]).expect("python output parses");
            assert_eq!(ours, want, "text mismatch for {raw}");
            assert_eq!(removed, want_removed, "removed count mismatch for {raw}");
        }
    }

    proptest::proptest! {
        #[test]
        fn python_str_round_trips_and_is_ascii(text in ".*") {
            let out = py_str(&text);
            proptest::prop_assert!(out.is_ascii());
            let back: String = serde_json::from_str(&out).map_err(|e| {
                proptest::test_runner::TestCaseError::fail(e.to_string())
            })?;
            proptest::prop_assert_eq!(back, text);
        }

        #[test]
        fn strip_lone_surrogates_never_changes_plain_json(text in ".*") {
            let raw = serde_json::to_string(&text).map_err(|e| {
                proptest::test_runner::TestCaseError::fail(e.to_string())
            })?;
            let (cleaned, removed) = strip_lone_surrogates(&raw);
            proptest::prop_assert_eq!(removed, 0);
            proptest::prop_assert_eq!(cleaned.as_ref(), raw.as_str());
        }
    }
}
