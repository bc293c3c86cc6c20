//! Text encoders the generator writes rows with: JSON string escaping, a faithful Python
//! `repr()` of a str and of a str-to-str dict (the proxy logged headers that way), and the
//! three spellings of the `date` field.

use std::fmt::Write as _;

/// Appends `value` as a JSON string literal. Non-ASCII is written as UTF-8, as Python's
/// `json.dumps(..., ensure_ascii=False)` does.
pub fn push_json_string(out: &mut String, value: &str) {
    out.push('"');
    let bytes = value.as_bytes();
    let mut clean_from = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let replacement: &str = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // Every escaped byte is ASCII, so these slice bounds are char boundaries.
        out.push_str(&value[clean_from..index]);
        if replacement.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(replacement);
        }
        clean_from = index + 1;
    }
    out.push_str(&value[clean_from..]);
    out.push('"');
}

/// Whether CPython's `str.isprintable()` holds for a non-ASCII char. Exact for every
/// assigned code point outside the listed non-printable categories; unassigned code points
/// (category Cn) are not tabulated beyond the noncharacters, and the generator never emits
/// them.
fn python_is_printable_non_ascii(character: char) -> bool {
    let code = character as u32;
    let non_printable = matches!(code,
        // Cc (C1 controls) and the Zs no-break space.
        0x80..=0xa0
        // Cf
        | 0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x890..=0x891 | 0x8e2 | 0x180e
        | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x2064 | 0x2066..=0x206f | 0xfeff
        | 0xfff9..=0xfffb | 0x110bd | 0x110cd | 0x13430..=0x1343f | 0x1bca0..=0x1bca3
        | 0x1d173..=0x1d17a | 0xe0001 | 0xe0020..=0xe007f
        // Zs other than the ASCII space, Zl, Zp.
        | 0x1680 | 0x2000..=0x200a | 0x2028 | 0x2029 | 0x202f | 0x205f | 0x3000
        // Co (private use) and the noncharacters among Cn.
        | 0xe000..=0xf8ff | 0xf0000..=0xffffd | 0x100000..=0x10fffd | 0xfdd0..=0xfdef
    ) || (code & 0xfffe) == 0xfffe;
    !non_printable
}

/// Appends Python's `repr()` of a str: single quotes unless the text holds `'` and no `"`.
pub fn push_python_str_repr(out: &mut String, value: &str) {
    let quote = if value.contains('\'') && !value.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for character in value.chars() {
        let code = character as u32;
        match character {
            '\\' => out.push_str("\\\\"),
            _ if character == quote => {
                out.push('\\');
                out.push(character);
            }
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            _ if code < 0x20 || code == 0x7f => {
                let _ = write!(out, "\\x{code:02x}");
            }
            _ if code < 0x7f => out.push(character),
            _ if python_is_printable_non_ascii(character) => out.push(character),
            _ if code <= 0xff => {
                let _ = write!(out, "\\x{code:02x}");
            }
            _ if code <= 0xffff => {
                let _ = write!(out, "\\u{code:04x}");
            }
            _ => {
                let _ = write!(out, "\\U{code:08x}");
            }
        }
    }
    out.push(quote);
}

/// Python's `repr()` of a dict whose keys and values are all str, in insertion order.
pub fn python_dict_repr(entries: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(64 * entries.len() + 2);
    out.push('{');
    for (position, (key, value)) in entries.iter().enumerate() {
        if position > 0 {
            out.push_str(", ");
        }
        push_python_str_repr(&mut out, key);
        out.push_str(": ");
        push_python_str_repr(&mut out, value);
    }
    out.push('}');
    out
}

/// How a row spells its `date`: the raw logs mix naive UTC, `Z` and `+00:00` forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateStyle {
    NaiveUtc,
    IsoZulu,
    ExplicitOffset,
}

/// Appends the timestamp (microseconds since the epoch, UTC) in the given style.
pub fn push_date(out: &mut String, micros: i64, style: DateStyle) {
    let Some(moment) = chrono::DateTime::from_timestamp_micros(micros) else {
        // Unreachable for the 2023-2024 range the planner draws from; keep the line valid.
        out.push_str("1970-01-01 00:00:00.000000");
        return;
    };
    let pattern = match style {
        DateStyle::NaiveUtc => "%Y-%m-%d %H:%M:%S%.6f",
        DateStyle::IsoZulu => "%Y-%m-%dT%H:%M:%S%.6fZ",
        DateStyle::ExplicitOffset => "%Y-%m-%d %H:%M:%S%.6f+00:00",
    };
    let _ = write!(out, "{}", moment.format(pattern));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr(value: &str) -> String {
        let mut out = String::new();
        push_python_str_repr(&mut out, value);
        out
    }

    #[test]
    fn python_repr_matches_known_cpython_output() {
        assert_eq!(repr("plain"), "'plain'");
        assert_eq!(repr("it's"), "\"it's\"");
        assert_eq!(repr("both ' and \""), "'both \\' and \"'");
        assert_eq!(repr("say \"hi\""), "'say \"hi\"'");
        assert_eq!(repr("tab\there\nnl\rcr\\"), "'tab\\there\\nnl\\rcr\\\\'");
        assert_eq!(repr("\u{1}\u{7f}"), "'\\x01\\x7f'");
        assert_eq!(repr("é中\u{a0}\u{200b}\u{85}"), "'é中\\xa0\\u200b\\x85'");
        assert_eq!(repr("\u{10ffff}"), "'\\U0010ffff'");
        assert_eq!(
            python_dict_repr(&[("a", "b"), ("user-agent", "Bob's")]),
            "{'a': 'b', 'user-agent': \"Bob's\"}"
        );
        assert_eq!(python_dict_repr(&[]), "{}");
    }

    #[test]
    fn json_strings_escape_controls_and_keep_utf8() {
        let mut out = String::new();
        push_json_string(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(out, "\"a\\\"b\\\\c\\nd\\u0001é\"");
        let parsed: String = serde_json::from_str(&out).expect("valid json string");
        assert_eq!(parsed, "a\"b\\c\nd\u{1}é");
    }

    #[test]
    fn dates_render_in_all_three_styles() {
        let micros = 1_680_998_573_250_000;
        let mut out = String::new();
        push_date(&mut out, micros, DateStyle::NaiveUtc);
        out.push('|');
        push_date(&mut out, micros, DateStyle::IsoZulu);
        out.push('|');
        push_date(&mut out, micros, DateStyle::ExplicitOffset);
        assert_eq!(
            out,
            "2023-04-09 00:02:53.250000|2023-04-09T00:02:53.250000Z|2023-04-09 00:02:53.250000+00:00"
        );
    }
}
