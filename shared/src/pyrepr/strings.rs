//! String and bytes literals: prefixes, adjacent-literal concatenation, escapes.

use super::*;

impl Parser<'_> {
    /// Parses one or more adjacent string literals, which Python concatenates.
    pub(super) fn parse_strings(&mut self) -> Result<Parsed, PyReprError> {
        let mut text = String::new();
        let mut is_bytes = None;
        loop {
            let literal_at = self.pos;
            let bytes_literal = self.parse_one_string(&mut text)?;
            if *is_bytes.get_or_insert(bytes_literal) != bytes_literal {
                return Err(PyReprError::MixedBytes { offset: literal_at });
            }
            let after = self.pos;
            self.skip_ws();
            if !self.at_string_start() {
                self.pos = after;
                break;
            }
        }
        Ok(Parsed {
            value: Value::String(text),
            kind: if is_bytes == Some(true) { Kind::Bytes } else { Kind::Str },
        })
    }

    pub(super) fn at_string_start(&self) -> bool {
        let mut at = self.pos;
        while at < self.pos + 2 && self.peek_at(at).is_some_and(|b| b.is_ascii_alphabetic()) {
            at += 1;
        }
        matches!(self.peek_at(at), Some(b'\'' | b'"'))
    }

    /// Parses a single (possibly prefixed) literal, appending its text; returns whether it was bytes.
    fn parse_one_string(&mut self, text: &mut String) -> Result<bool, PyReprError> {
        let start = self.pos;
        let mut raw = false;
        let mut bytes = false;
        let mut unicode = false;
        let mut format = false;
        while let Some(b) = self.peek().filter(u8::is_ascii_alphabetic) {
            match b.to_ascii_lowercase() {
                b'r' if !raw => raw = true,
                b'b' if !bytes => bytes = true,
                b'u' if !unicode => unicode = true,
                b'f' if !format => format = true,
                _ => return Err(self.bad_prefix(start)),
            }
            self.pos += 1;
        }
        // Python accepts r, u, b, f, and r combined with b or f, in either order and any case.
        let prefix_len = self.pos - start;
        if prefix_len > 2 || (unicode && prefix_len > 1) || (bytes && format) {
            return Err(self.bad_prefix(start));
        }
        if format {
            return Err(PyReprError::FString { offset: start });
        }
        let Some(quote @ (b'\'' | b'"')) = self.peek() else {
            return Err(self.unexpected());
        };
        let triple = self.peek_at(self.pos + 1) == Some(quote) && self.peek_at(self.pos + 2) == Some(quote);
        self.pos += if triple { 3 } else { 1 };
        self.parse_string_body(text, start, quote, triple, raw, bytes)?;
        Ok(bytes)
    }

    fn bad_prefix(&self, start: usize) -> PyReprError {
        let len = self.bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count();
        not_a_literal(&self.src[start..start + len], start)
    }

    fn parse_string_body(
        &mut self,
        text: &mut String,
        start: usize,
        quote: u8,
        triple: bool,
        raw: bool,
        bytes: bool,
    ) -> Result<(), PyReprError> {
        let mut run_start = self.pos;
        loop {
            let Some(b) = self.peek() else {
                return Err(PyReprError::UnterminatedString { offset: start });
            };
            match b {
                _ if b == quote => {
                    if !triple {
                        text.push_str(&self.src[run_start..self.pos]);
                        self.pos += 1;
                        return Ok(());
                    }
                    if self.peek_at(self.pos + 1) == Some(quote) && self.peek_at(self.pos + 2) == Some(quote) {
                        text.push_str(&self.src[run_start..self.pos]);
                        self.pos += 3;
                        return Ok(());
                    }
                    self.pos += 1;
                }
                b'\n' | b'\r' => {
                    if !triple {
                        return Err(PyReprError::UnterminatedString { offset: start });
                    }
                    // Python reads source with universal newlines, so CRLF and CR become LF.
                    text.push_str(&self.src[run_start..self.pos]);
                    text.push('\n');
                    self.skip_newline();
                    run_start = self.pos;
                }
                b'\\' => {
                    text.push_str(&self.src[run_start..self.pos]);
                    let escape_at = self.pos;
                    self.pos += 1;
                    if raw {
                        // A raw string keeps the backslash; it only stops the next char from
                        // closing the literal.
                        text.push('\\');
                        match self.peek() {
                            None => return Err(PyReprError::UnterminatedString { offset: start }),
                            Some(b'\n' | b'\r') => {
                                text.push('\n');
                                self.skip_newline();
                            }
                            Some(_) => {
                                let next = self.take_char(bytes, start)?;
                                text.push(next);
                            }
                        }
                    } else {
                        self.parse_escape(text, start, escape_at, bytes)?;
                    }
                    run_start = self.pos;
                }
                0x80.. if bytes => return Err(PyReprError::NonAsciiBytes { offset: self.pos }),
                _ => self.pos += 1,
            }
        }
    }

    /// Consumes one char of a string body, enforcing the ASCII-only rule of bytes literals.
    fn take_char(&mut self, bytes: bool, start: usize) -> Result<char, PyReprError> {
        let Some(c) = self.peek_char() else {
            return Err(PyReprError::UnterminatedString { offset: start });
        };
        if bytes && !c.is_ascii() {
            return Err(PyReprError::NonAsciiBytes { offset: self.pos });
        }
        self.pos += c.len_utf8();
        Ok(c)
    }

    /// Decodes the escape after a backslash (already consumed) in a non-raw literal.
    fn parse_escape(
        &mut self,
        text: &mut String,
        start: usize,
        escape_at: usize,
        bytes: bool,
    ) -> Result<(), PyReprError> {
        let Some(b) = self.peek() else {
            return Err(PyReprError::UnterminatedString { offset: start });
        };
        let simple = match b {
            b'\n' | b'\r' => {
                self.skip_newline();
                return Ok(());
            }
            b'\\' => Some('\\'),
            b'\'' => Some('\''),
            b'"' => Some('"'),
            b'a' => Some('\u{7}'),
            b'b' => Some('\u{8}'),
            b'f' => Some('\u{c}'),
            b'n' => Some('\n'),
            b'r' => Some('\r'),
            b't' => Some('\t'),
            b'v' => Some('\u{b}'),
            _ => None,
        };
        if let Some(c) = simple {
            self.pos += 1;
            text.push(c);
            return Ok(());
        }
        match b {
            b'0'..=b'7' => {
                let mut value = 0u32;
                let mut digits = 0;
                while digits < 3 {
                    match self.peek() {
                        Some(d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            self.pos += 1;
                            digits += 1;
                        }
                        _ => break,
                    }
                }
                // Bytes keep only the low 8 bits of `\777`, as CPython does.
                let value = if bytes { value & 0xff } else { value };
                push_code_point(text, value);
            }
            b'x' => {
                self.pos += 1;
                let value = self.hex_digits(2, escape_at, "truncated \\xXX escape")?;
                push_code_point(text, value);
            }
            b'u' if !bytes => {
                self.pos += 1;
                let value = self.hex_digits(4, escape_at, "truncated \\uXXXX escape")?;
                push_code_point(text, value);
            }
            b'U' if !bytes => {
                self.pos += 1;
                let value = self.hex_digits(8, escape_at, "truncated \\UXXXXXXXX escape")?;
                if value > 0x10_ffff {
                    return Err(PyReprError::InvalidEscape {
                        reason: "illegal unicode character",
                        offset: escape_at,
                    });
                }
                push_code_point(text, value);
            }
            b'N' if !bytes => return Err(PyReprError::NamedEscape { offset: escape_at }),
            _ => {
                // Python keeps unknown escapes verbatim, backslash included.
                text.push('\\');
                let c = self.take_char(bytes, start)?;
                text.push(c);
            }
        }
        Ok(())
    }

    fn hex_digits(&mut self, count: usize, escape_at: usize, reason: &'static str) -> Result<u32, PyReprError> {
        let mut value = 0u32;
        for _ in 0..count {
            let digit = self
                .peek()
                .and_then(|b| char::from(b).to_digit(16))
                .ok_or(PyReprError::InvalidEscape {
                    reason,
                    offset: escape_at,
                })?;
            value = value * 16 + digit;
            self.pos += 1;
        }
        Ok(value)
    }
}

/// Appends a decoded code point; surrogates from `\ud800`-style escapes are dropped because a
/// Rust string cannot hold them (Python's `encode(errors='ignore')` drops them too).
fn push_code_point(text: &mut String, value: u32) {
    if let Some(c) = char::from_u32(value) {
        text.push(c);
    }
}
