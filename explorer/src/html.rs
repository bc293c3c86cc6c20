//! HTML building blocks. Every value that reaches a page goes through [`text`] (element
//! content) or [`attr`] (attribute values); conversation text also through [`untrusted`], which
//! shows bidirectional and other invisible control characters as visible markers instead of
//! letting them reorder the page.

use std::fmt::Write;
use std::ops::Range;

/// Escapes `&`, `<`, `>`, `"` and `'`.
pub fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    push_escaped(&mut out, value);
    out
}

/// Same escaping; a separate name where the value lands in a quoted attribute.
pub fn attr(value: &str) -> String {
    text(value)
}

fn push_escaped(out: &mut String, value: &str) {
    for c in value.chars() {
        push_char(out, c);
    }
}

fn push_char(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        _ => out.push(c),
    }
}

/// Characters shown as a marker (`<span class="ctl">U+202E</span>`) instead of themselves: bidirectional embeddings,
/// overrides and isolates, and other format or control characters except tab and newline.
fn is_hidden_control(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}')
        || (c.is_control() && c != '\n' && c != '\t')
}

fn push_untrusted(out: &mut String, value: &str) {
    for c in value.chars() {
        if is_hidden_control(c) {
            let _ = write!(out, "<span class=\"ctl\">U+{:04X}</span>", c as u32);
        } else {
            push_char(out, c);
        }
    }
}

/// Untrusted text (conversation content, hashes, labels from the data) for element content.
pub fn untrusted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    push_untrusted(&mut out, value);
    out
}

/// Untrusted text with the byte ranges `marks` wrapped in `<mark class="...">` (sorted by
/// start; a range that overlaps an earlier one or splits a character is left unmarked).
pub fn marked(value: &str, marks: &[(Range<usize>, &'static str)]) -> String {
    let mut out = String::with_capacity(value.len() + 24 * marks.len() + 8);
    let mut at = 0;
    for (range, class) in marks {
        if range.start < at
            || range.end > value.len()
            || range.start >= range.end
            || !value.is_char_boundary(range.start)
            || !value.is_char_boundary(range.end)
        {
            continue;
        }
        push_untrusted(&mut out, &value[at..range.start]);
        let _ = write!(out, "<mark class=\"{class}\">");
        push_untrusted(&mut out, &value[range.clone()]);
        out.push_str("</mark>");
        at = range.end;
    }
    push_untrusted(&mut out, &value[at..]);
    out
}

/// A query string from pairs (values percent-encoded), for links.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (name, value) in pairs.iter().filter(|(_, value)| !value.is_empty()) {
        out.push(if out.is_empty() { '?' } else { '&' });
        out.push_str(name);
        out.push('=');
        for byte in value.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
                out.push(byte as char);
            } else {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

/// A whole page: the shared head (stylesheet and script are files of this server, so the
/// content security policy can forbid every inline script), the navigation and `body`.
pub fn page(title: &str, version: &str, variant: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title} · {version}</title>\
<link rel=\"stylesheet\" href=\"/static/explorer.css\">\
<script src=\"/static/explorer.js\" defer></script></head>\
<body data-version=\"{version_attr}\"><header><nav>\
<strong>release {version}</strong> <span class=\"variant\">{variant}</span> \
<a href=\"/\">overview</a> <a href=\"/browse\">browse</a> <a href=\"/search\">search</a> \
<a href=\"/compare\">compare</a> <a href=\"/basket\">basket (<span id=\"basket-count\">0</span>)</a>\
</nav></header><main>\n{body}\n</main></body></html>\n",
        title = text(title),
        version = text(version),
        version_attr = attr(version),
        variant = text(variant),
    )
}
