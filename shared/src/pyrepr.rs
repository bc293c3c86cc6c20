//! Parser for Python literal reprs (the syntax `ast.literal_eval` accepts), used for fields the
//! upstream logs stored as `str(dict)`. It only recognises literal syntax and never evaluates
//! anything: names, calls, operators and f-strings are errors.

use std::collections::HashSet;

use serde_json::{Map, Number, Value};

/// Deeper nesting than this is rejected so hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

/// Longest name quoted back in an error message.
const MAX_NAME_IN_ERROR: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PyReprError {
    #[error("unexpected character {found:?} at offset {offset}")]
    UnexpectedChar { found: char, offset: usize },
    #[error("unexpected end of input at offset {offset}")]
    UnexpectedEnd { offset: usize },
    #[error("name '{name}' is not a literal at offset {offset}")]
    NotALiteral { name: String, offset: usize },
    #[error("unterminated string at offset {offset}")]
    UnterminatedString { offset: usize },
    #[error("invalid escape at offset {offset}: {reason}")]
    InvalidEscape { reason: &'static str, offset: usize },
    #[error("named unicode escapes unsupported at offset {offset}")]
    NamedEscape { offset: usize },
    #[error("non-ascii character in bytes literal at offset {offset}")]
    NonAsciiBytes { offset: usize },
    #[error("cannot mix bytes and str literals at offset {offset}")]
    MixedBytes { offset: usize },
    #[error("f-strings are not literals at offset {offset}")]
    FString { offset: usize },
    #[error("invalid number literal at offset {offset}")]
    InvalidNumber { offset: usize },
    #[error("number out of range at offset {offset}")]
    OutOfRange { offset: usize },
    #[error("{what} unsupported at offset {offset}")]
    Unsupported { what: &'static str, offset: usize },
    #[error("sign applied to a non-number at offset {offset}")]
    SignOnNonNumber { offset: usize },
    #[error("non-string dict key at offset {offset}")]
    NonStringKey { offset: usize },
    #[error("unhashable set element at offset {offset}")]
    Unhashable { offset: usize },
    #[error("nesting too deep at offset {offset}")]
    TooDeep { offset: usize },
    #[error("null byte at offset {offset}")]
    NullByte { offset: usize },
    #[error("unexpected indent at offset {offset}")]
    UnexpectedIndent { offset: usize },
}

impl PyReprError {
    /// Byte offset into the source where the problem was found.
    pub fn offset(&self) -> usize {
        match self {
            Self::UnexpectedChar { offset, .. }
            | Self::UnexpectedEnd { offset }
            | Self::NotALiteral { offset, .. }
            | Self::UnterminatedString { offset }
            | Self::InvalidEscape { offset, .. }
            | Self::NamedEscape { offset }
            | Self::NonAsciiBytes { offset }
            | Self::MixedBytes { offset }
            | Self::FString { offset }
            | Self::InvalidNumber { offset }
            | Self::OutOfRange { offset }
            | Self::Unsupported { offset, .. }
            | Self::SignOnNonNumber { offset }
            | Self::NonStringKey { offset }
            | Self::Unhashable { offset }
            | Self::TooDeep { offset }
            | Self::NullByte { offset }
            | Self::UnexpectedIndent { offset } => *offset,
        }
    }
}

/// Parses a Python literal (`repr()` / `str()` of str, bytes, int, float, bool, None, and lists,
/// tuples, dicts and sets of those) into JSON. Tuples and sets become arrays, bytes become
/// latin-1 strings, ints beyond 64 bits become floats.
pub fn parse_python_literal(source: &str) -> Result<Value, PyReprError> {
    // Python refuses source with NUL anywhere, comments and string bodies included.
    if let Some(offset) = memchr::memchr(0, source.as_bytes()) {
        return Err(PyReprError::NullByte { offset });
    }
    let mut parser = Parser {
        src: source,
        bytes: source.as_bytes(),
        pos: 0,
        depth: 0,
    };
    parser.skip_leading()?;
    let first = parser.parse_value()?;
    parser.skip_ws();
    let value = if parser.peek() == Some(b',') {
        // `1, 2` at the top level is a tuple without parentheses.
        let mut items = vec![first.value];
        while parser.peek() == Some(b',') {
            parser.pos += 1;
            parser.skip_ws();
            if parser.at_line_end() {
                break;
            }
            items.push(parser.parse_value()?.value);
            parser.skip_ws();
        }
        Value::Array(items)
    } else {
        first.value
    };
    parser.skip_trailing()?;
    match parser.peek_char() {
        None => Ok(value),
        Some(found) => Err(PyReprError::UnexpectedChar {
            found,
            offset: parser.pos,
        }),
    }
}

/// What a parsed node was in Python terms, which JSON alone cannot tell apart.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Bytes,
    /// An unsigned numeric literal, possibly parenthesised: the only thing a sign may apply to.
    Number,
    /// Anything else hashable: signed numbers, bools, None, tuples of hashables.
    Hashable,
    /// Lists, dicts, sets and tuples holding one of those.
    Unhashable,
}

struct Parsed {
    value: Value,
    kind: Kind,
}

impl Parsed {
    fn hashable(&self) -> bool {
        self.kind != Kind::Unhashable
    }
}

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Open brackets around `pos`; inside any, newlines are plain whitespace as in Python.
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_at(&self, at: usize) -> Option<u8> {
        self.bytes.get(at).copied()
    }

    fn peek_char(&self) -> Option<char> {
        self.src.get(self.pos..)?.chars().next()
    }

    fn unexpected(&self) -> PyReprError {
        match self.peek_char() {
            Some(found) => PyReprError::UnexpectedChar {
                found,
                offset: self.pos,
            },
            None => PyReprError::UnexpectedEnd { offset: self.pos },
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), PyReprError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    /// `ast.literal_eval` strips leading spaces and tabs; after that, blank and comment-only
    /// lines are fine but an indented first token is an IndentationError.
    fn skip_leading(&mut self) -> Result<(), PyReprError> {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.skip_blank_lines()
    }

    /// After the value: the rest of its line, then only blank or comment lines may follow.
    fn skip_trailing(&mut self) -> Result<(), PyReprError> {
        self.skip_ws();
        if !self.at_line_end() || self.peek().is_none() {
            return Ok(());
        }
        self.skip_newline();
        self.skip_blank_lines()
    }

    /// Skips whole blank and comment-only lines from the start of a physical line, and stops at
    /// the first token, which must not be indented. Indentation follows CPython's tokenizer:
    /// a form feed resets the column, a backslash continuation does not end the indentation
    /// (the column before the first one counts), and bare indentation at the end of the input
    /// is an indent too.
    fn skip_blank_lines(&mut self) -> Result<(), PyReprError> {
        loop {
            let mut col = 0usize;
            let mut continuation_col = 0usize;
            loop {
                match self.peek() {
                    Some(b' ') => col += 1,
                    Some(b'\t') => col = (col / 8 + 1) * 8,
                    Some(b'\x0c') => col = 0,
                    Some(b'\\') if matches!(self.peek_at(self.pos + 1), Some(b'\n' | b'\r')) => {
                        if continuation_col == 0 {
                            continuation_col = col;
                        }
                        let backslash = self.pos;
                        self.pos += 1;
                        self.skip_newline();
                        if self.peek().is_none() {
                            self.pos = backslash;
                            return Err(self.unexpected());
                        }
                        continue;
                    }
                    _ => break,
                }
                self.pos += 1;
            }
            let col = if continuation_col != 0 { continuation_col } else { col };
            match self.peek() {
                Some(b'#') => {
                    while !self.at_line_end() {
                        self.pos += 1;
                    }
                    if self.peek().is_none() {
                        return Ok(());
                    }
                    self.skip_newline();
                }
                Some(b'\n' | b'\r') => self.skip_newline(),
                _ if col > 0 => return Err(PyReprError::UnexpectedIndent { offset: self.pos }),
                _ => return Ok(()),
            }
        }
    }

    fn at_line_end(&self) -> bool {
        matches!(self.peek(), None | Some(b'\n' | b'\r'))
    }

    fn skip_newline(&mut self) {
        if self.peek() == Some(b'\r') {
            self.pos += 1;
            if self.peek() == Some(b'\n') {
                self.pos += 1;
            }
        } else if self.peek() == Some(b'\n') {
            self.pos += 1;
        }
    }

    /// Skips spaces, comments and line continuations; newlines only inside brackets, because
    /// at the top level a newline ends the expression.
    fn skip_ws(&mut self) {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\x0c') => self.pos += 1,
                Some(b'\n' | b'\r') if self.depth > 0 => self.pos += 1,
                Some(b'#') => {
                    while !self.at_line_end() {
                        self.pos += 1;
                    }
                }
                Some(b'\\') if matches!(self.peek_at(self.pos + 1), Some(b'\n' | b'\r')) => {
                    let backslash = self.pos;
                    self.pos += 1;
                    self.skip_newline();
                    // Python rejects a continuation that joins onto the end of the input.
                    if self.peek().is_none() {
                        self.pos = backslash;
                        return;
                    }
                }
                _ => return,
            }
        }
    }

    fn parse_value(&mut self) -> Result<Parsed, PyReprError> {
        match self.peek() {
            Some(sign @ (b'-' | b'+')) => {
                let sign_at = self.pos;
                self.pos += 1;
                self.skip_ws();
                let operand_at = self.pos;
                // Python's literal_eval takes a single sign only; refusing here also keeps a run
                // of signs from recursing.
                if matches!(self.peek(), Some(b'-' | b'+')) {
                    return Err(PyReprError::SignOnNonNumber { offset: operand_at });
                }
                let operand = self.parse_atom()?;
                if operand.kind != Kind::Number {
                    return Err(PyReprError::SignOnNonNumber { offset: operand_at });
                }
                let value = if sign == b'-' {
                    negate(operand.value).ok_or(PyReprError::OutOfRange { offset: sign_at })?
                } else {
                    operand.value
                };
                Ok(Parsed {
                    value,
                    kind: Kind::Hashable,
                })
            }
            _ => self.parse_atom(),
        }
    }

    fn parse_atom(&mut self) -> Result<Parsed, PyReprError> {
        let Some(byte) = self.peek() else {
            return Err(self.unexpected());
        };
        match byte {
            b'\'' | b'"' => self.parse_strings(),
            b'0'..=b'9' => self.parse_number(),
            b'.' if matches!(self.peek_at(self.pos + 1), Some(b'0'..=b'9')) => self.parse_number(),
            b'.' if self.bytes.get(self.pos..self.pos + 3) == Some(b"...") => Err(PyReprError::Unsupported {
                what: "ellipsis",
                offset: self.pos,
            }),
            b'[' => self.parse_list(),
            b'(' => self.parse_paren(),
            b'{' => self.parse_brace(),
            _ => match self.peek_char() {
                Some(c) if c == '_' || c.is_alphabetic() => self.parse_name(),
                _ => Err(self.unexpected()),
            },
        }
    }

    fn parse_name(&mut self) -> Result<Parsed, PyReprError> {
        let start = self.pos;
        let rest = &self.src[start..];
        let len = rest
            .char_indices()
            .find(|&(_, c)| !(c == '_' || c.is_alphanumeric()))
            .map_or(rest.len(), |(i, _)| i);
        let name = &rest[..len];
        if len <= 2 && name.bytes().all(|b| b.is_ascii_alphabetic()) && self.at_string_start() {
            return self.parse_strings();
        }
        self.pos = start + len;
        let value = match name {
            "None" => Value::Null,
            "True" => Value::Bool(true),
            "False" => Value::Bool(false),
            // literal_eval special-cases `set()`, the repr of an empty set.
            "set" => {
                let after_name = self.pos;
                self.skip_ws();
                if self.peek() == Some(b'(') {
                    self.pos += 1;
                    self.depth += 1;
                    self.skip_ws();
                    self.depth -= 1;
                    if self.peek() == Some(b')') {
                        self.pos += 1;
                        return Ok(Parsed {
                            value: Value::Array(Vec::new()),
                            kind: Kind::Unhashable,
                        });
                    }
                }
                self.pos = after_name;
                return Err(not_a_literal(name, start));
            }
            _ => return Err(not_a_literal(name, start)),
        };
        Ok(Parsed {
            value,
            kind: Kind::Hashable,
        })
    }

    fn open_bracket(&mut self) -> Result<(), PyReprError> {
        if self.depth >= MAX_DEPTH {
            return Err(PyReprError::TooDeep { offset: self.pos });
        }
        self.depth += 1;
        self.pos += 1;
        self.skip_ws();
        Ok(())
    }

    fn close_bracket(&mut self, byte: u8) -> Result<(), PyReprError> {
        self.expect(byte)?;
        self.depth -= 1;
        Ok(())
    }

    fn parse_list(&mut self) -> Result<Parsed, PyReprError> {
        self.open_bracket()?;
        let mut items = Vec::new();
        while self.peek() != Some(b']') {
            items.push(self.parse_value()?.value);
            self.skip_ws();
            if self.peek() != Some(b',') {
                break;
            }
            self.pos += 1;
            self.skip_ws();
        }
        self.close_bracket(b']')?;
        Ok(Parsed {
            value: Value::Array(items),
            kind: Kind::Unhashable,
        })
    }

    /// `()` and `(x, ...)` are tuples; `(x)` is just `x`.
    fn parse_paren(&mut self) -> Result<Parsed, PyReprError> {
        self.open_bracket()?;
        if self.peek() == Some(b')') {
            self.close_bracket(b')')?;
            return Ok(Parsed {
                value: Value::Array(Vec::new()),
                kind: Kind::Hashable,
            });
        }
        let first = self.parse_value()?;
        self.skip_ws();
        if self.peek() != Some(b',') {
            self.close_bracket(b')')?;
            return Ok(first);
        }
        let mut hashable = first.hashable();
        let mut items = vec![first.value];
        while self.peek() == Some(b',') {
            self.pos += 1;
            self.skip_ws();
            if self.peek() == Some(b')') {
                break;
            }
            let item = self.parse_value()?;
            hashable &= item.hashable();
            items.push(item.value);
            self.skip_ws();
        }
        self.close_bracket(b')')?;
        Ok(Parsed {
            value: Value::Array(items),
            kind: if hashable { Kind::Hashable } else { Kind::Unhashable },
        })
    }

    /// `{}` and `{k: v, ...}` are dicts, `{x, ...}` is a set; the first element decides.
    fn parse_brace(&mut self) -> Result<Parsed, PyReprError> {
        self.open_bracket()?;
        if self.peek() == Some(b'}') {
            self.close_bracket(b'}')?;
            return Ok(Parsed {
                value: Value::Object(Map::new()),
                kind: Kind::Unhashable,
            });
        }
        let first_at = self.pos;
        let first = self.parse_value()?;
        self.skip_ws();
        let value = if self.peek() == Some(b':') {
            self.parse_dict_rest(first, first_at)?
        } else {
            self.parse_set_rest(first, first_at)?
        };
        self.close_bracket(b'}')?;
        Ok(Parsed {
            value,
            kind: Kind::Unhashable,
        })
    }

    fn parse_dict_rest(&mut self, first_key: Parsed, first_at: usize) -> Result<Value, PyReprError> {
        let mut map = Map::new();
        let mut key = first_key;
        let mut key_at = first_at;
        loop {
            let Value::String(key_text) = key.value else {
                return Err(PyReprError::NonStringKey { offset: key_at });
            };
            if key.kind != Kind::Str {
                return Err(PyReprError::NonStringKey { offset: key_at });
            }
            self.skip_ws();
            self.expect(b':')?;
            self.skip_ws();
            let item = self.parse_value()?;
            // serde_json's ordered map keeps the first position on re-insert, as a Python dict does.
            map.insert(key_text, item.value);
            self.skip_ws();
            if self.peek() != Some(b',') {
                break;
            }
            self.pos += 1;
            self.skip_ws();
            if self.peek() == Some(b'}') {
                break;
            }
            key_at = self.pos;
            key = self.parse_value()?;
        }
        Ok(Value::Object(map))
    }

    fn parse_set_rest(&mut self, first: Parsed, first_at: usize) -> Result<Value, PyReprError> {
        let mut items = Vec::new();
        let mut seen = HashSet::new();
        let mut item = first;
        let mut item_at = first_at;
        loop {
            if !item.hashable() {
                return Err(PyReprError::Unhashable { offset: item_at });
            }
            // Exact duplicates collapse as in Python; 1 / 1.0 / True stay distinct here.
            let mut key = Vec::new();
            crate::canonical_json::write_python_json(&item.value, &mut key);
            if seen.insert(key) {
                items.push(item.value);
            }
            self.skip_ws();
            if self.peek() != Some(b',') {
                break;
            }
            self.pos += 1;
            self.skip_ws();
            if self.peek() == Some(b'}') {
                break;
            }
            item_at = self.pos;
            item = self.parse_value()?;
        }
        Ok(Value::Array(items))
    }

    /// Parses one or more adjacent string literals, which Python concatenates.
    fn parse_strings(&mut self) -> Result<Parsed, PyReprError> {
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

    fn at_string_start(&self) -> bool {
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

    fn parse_number(&mut self) -> Result<Parsed, PyReprError> {
        let start = self.pos;
        let invalid = PyReprError::InvalidNumber { offset: start };
        let radix = match (self.peek(), self.peek_at(start + 1).map(|b| b.to_ascii_lowercase())) {
            (Some(b'0'), Some(b'x')) => Some(16),
            (Some(b'0'), Some(b'o')) => Some(8),
            (Some(b'0'), Some(b'b')) => Some(2),
            _ => None,
        };
        if let Some(radix) = radix {
            self.pos += 2;
            // Python allows one underscore straight after the prefix: `0x_ff`.
            if self.peek() == Some(b'_') {
                self.pos += 1;
            }
            let digits = self.digit_part(radix).ok_or(invalid.clone())?;
            self.reject_suffix(start)?;
            let value = radix_int(&digits, radix).ok_or(PyReprError::OutOfRange { offset: start })?;
            return Ok(Parsed {
                value,
                kind: Kind::Number,
            });
        }

        let mut cleaned = String::new();
        let mut is_float = false;
        if self.peek() != Some(b'.') {
            cleaned = self.digit_part(10).ok_or(invalid.clone())?;
        }
        if self.peek() == Some(b'.') {
            is_float = true;
            self.pos += 1;
            cleaned.push('.');
            if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                cleaned.push_str(&self.digit_part(10).ok_or(invalid.clone())?);
            } else if cleaned == "." {
                return Err(invalid);
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            let exponent_at = self.pos;
            self.pos += 1;
            let mut exponent = String::from("e");
            if let Some(sign @ (b'+' | b'-')) = self.peek() {
                exponent.push(char::from(sign));
                self.pos += 1;
            }
            if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                is_float = true;
                cleaned.push_str(&exponent);
                cleaned.push_str(&self.digit_part(10).ok_or(invalid.clone())?);
            } else {
                // `1e` or `1else`: Python rejects both as an invalid decimal literal.
                self.pos = exponent_at;
                return Err(invalid);
            }
        }
        if matches!(self.peek(), Some(b'j' | b'J')) {
            return Err(PyReprError::Unsupported {
                what: "complex numbers",
                offset: start,
            });
        }
        self.reject_suffix(start)?;
        let value = if is_float {
            let f: f64 = cleaned.parse().map_err(|_| invalid)?;
            Number::from_f64(f)
                .map(Value::Number)
                .ok_or(PyReprError::OutOfRange { offset: start })?
        } else {
            if cleaned.len() > 1 && cleaned.starts_with('0') && cleaned.bytes().any(|b| b != b'0') {
                // Python 3 forbids `017`-style integers.
                return Err(invalid);
            }
            decimal_int(&cleaned).ok_or(PyReprError::OutOfRange { offset: start })?
        };
        Ok(Parsed {
            value,
            kind: Kind::Number,
        })
    }

    /// Reads `digit ('_'? digit)*` in `radix`, returning the digits without underscores.
    fn digit_part(&mut self, radix: u32) -> Option<String> {
        let mut digits = String::new();
        while let Some(c) = self.peek().map(char::from).filter(|c| c.is_digit(radix)) {
            digits.push(c);
            self.pos += 1;
            if self.peek() == Some(b'_') {
                self.pos += 1;
                if !self.peek().is_some_and(|b| char::from(b).is_digit(radix)) {
                    return None;
                }
            }
        }
        if digits.is_empty() {
            None
        } else {
            Some(digits)
        }
    }

    /// A number glued to letters, digits of another base or `_` (`0b102`, `1_`, `12abc`) is
    /// one malformed token in Python, not a number followed by something else.
    fn reject_suffix(&self, start: usize) -> Result<(), PyReprError> {
        match self.peek_char() {
            Some(c) if c == '_' || c.is_alphanumeric() || c == '.' => Err(PyReprError::InvalidNumber { offset: start }),
            _ => Ok(()),
        }
    }
}

fn not_a_literal(name: &str, offset: usize) -> PyReprError {
    let shown: String = name.chars().take(MAX_NAME_IN_ERROR).collect();
    PyReprError::NotALiteral { name: shown, offset }
}

/// Appends a decoded code point; surrogates from `\ud800`-style escapes are dropped because a
/// Rust string cannot hold them (Python's `encode(errors='ignore')` drops them too).
fn push_code_point(text: &mut String, value: u32) {
    if let Some(c) = char::from_u32(value) {
        text.push(c);
    }
}

fn decimal_int(digits: &str) -> Option<Value> {
    if let Ok(n) = digits.parse::<u64>() {
        return Some(Value::from(n));
    }
    let f: f64 = digits.parse().ok()?;
    Number::from_f64(f).map(Value::Number)
}

/// Converts a hex, octal or binary digit string; beyond 64 bits the result is the correctly
/// rounded f64, and beyond f64's range there is no result.
fn radix_int(digits: &str, radix: u32) -> Option<Value> {
    let bits_per_digit = radix.trailing_zeros() as usize;
    let significant = digits.trim_start_matches('0');
    let mut bits: Vec<bool> = Vec::with_capacity(significant.len() * bits_per_digit);
    for c in significant.chars() {
        let d = c.to_digit(radix)?;
        for shift in (0..bits_per_digit).rev() {
            bits.push((d >> shift) & 1 == 1);
        }
    }
    let leading_zeros = bits.iter().take_while(|b| !**b).count();
    let bits = &bits[leading_zeros..];
    if bits.len() <= 64 {
        let n = bits.iter().fold(0u64, |acc, &b| (acc << 1) | u64::from(b));
        return Some(Value::from(n));
    }
    if bits.len() > 1024 {
        return None;
    }
    // Keep the top 64 bits and fold the rest into a sticky low bit: the u64 -> f64 conversion
    // then rounds exactly as if it had seen every bit.
    let mut top = bits[..64].iter().fold(0u64, |acc, &b| (acc << 1) | u64::from(b));
    if bits[64..].iter().any(|&b| b) {
        top |= 1;
    }
    let scale = i32::try_from(bits.len() - 64).ok()?;
    let f = (top as f64) * 2f64.powi(scale);
    Number::from_f64(f).map(Value::Number)
}

fn negate(value: Value) -> Option<Value> {
    let Value::Number(number) = value else {
        return None;
    };
    if let Some(n) = number.as_u64() {
        return Some(match i64::try_from(-i128::from(n)) {
            Ok(negative) => Value::from(negative),
            Err(_) => Number::from_f64(-(n as f64)).map(Value::Number)?,
        });
    }
    let f = number.as_f64()?;
    Number::from_f64(-f).map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::process::Command;

    fn parse(source: &str) -> Value {
        parse_python_literal(source).unwrap_or_else(|e| panic!("{source:?} failed: {e}"))
    }

    fn err(source: &str) -> PyReprError {
        match parse_python_literal(source) {
            Ok(v) => panic!("{source:?} parsed as {v}"),
            Err(e) => e,
        }
    }

    #[test]
    fn wildchat_header_dict() {
        let source = r#"{'host': 'x', 'user-agent': "Mozilla/5.0 (it's)", 'x-forwarded-for': '1.2.3.4, 10.0.0.1'}"#;
        let value = parse(source);
        assert_eq!(
            value,
            json!({"host": "x", "user-agent": "Mozilla/5.0 (it's)", "x-forwarded-for": "1.2.3.4, 10.0.0.1"})
        );
        let keys: Vec<&str> = value
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(keys, ["host", "user-agent", "x-forwarded-for"]);
    }

    #[test]
    fn quote_styles_and_prefixes() {
        assert_eq!(parse("'a'"), json!("a"));
        assert_eq!(parse("\"a'b\""), json!("a'b"));
        assert_eq!(parse("'''a\n'b''c'''"), json!("a\n'b''c"));
        assert_eq!(parse("\"\"\"a\"b\"\"c\"\"\""), json!("a\"b\"\"c"));
        assert_eq!(parse("'''a\r\nb\rc'''"), json!("a\nb\nc"));
        assert_eq!(parse("u'x'"), json!("x"));
        assert_eq!(parse("U\"x\""), json!("x"));
        assert_eq!(parse(r"r'a\nb\''"), json!(r"a\nb\'"));
        assert_eq!(parse(r"R'\\'"), json!(r"\\"));
        assert_eq!(parse(r"b'\x41\xff\n'"), json!("A\u{ff}\n"));
        assert_eq!(parse(r"rb'\x41'"), json!(r"\x41"));
        assert_eq!(parse(r"bR'\x41'"), json!(r"\x41"));
        assert_eq!(parse(r"Br'\x41'"), json!(r"\x41"));
        assert_eq!(parse(r"b'\u0041\N{X}\777'"), json!("\\u0041\\N{X}\u{ff}"));
        assert_eq!(parse("''"), json!(""));
        assert_eq!(parse("''''''"), json!(""));
    }

    #[test]
    fn escapes() {
        assert_eq!(
            parse(r#"'\\ \' \" \a \b \f \n \r \t \v'"#),
            json!("\\ ' \" \u{7} \u{8} \u{c} \n \r \t \u{b}")
        );
        assert_eq!(parse(r"'\0\08\101\1234\777'"), json!("\0\u{0}8AS4\u{1ff}"));
        assert_eq!(parse(r"'\x41\u00e9\U0001F600'"), json!("Aé😀"));
        assert_eq!(parse("'a\\\nb'"), json!("ab"));
        assert_eq!(parse("'a\\\r\nb'"), json!("ab"));
        assert_eq!(parse("r'a\\\r\nb'"), json!("a\\\nb"));
        assert_eq!(parse(r"'\8 \q \é'"), json!(r"\8 \q \é"));
        assert_eq!(parse(r"'a\ud800b\ud83d\ude00'"), json!("ab"));
        assert!(matches!(err(r"'\N{BULLET}'"), PyReprError::NamedEscape { offset: 1 }));
        assert_eq!(
            err(r"'\N{BULLET}'").to_string(),
            "named unicode escapes unsupported at offset 1"
        );
        assert!(matches!(err(r"'\x4'"), PyReprError::InvalidEscape { offset: 1, .. }));
        assert!(matches!(err(r"'\u12'"), PyReprError::InvalidEscape { .. }));
        assert!(matches!(err(r"'\U00110000'"), PyReprError::InvalidEscape { .. }));
        assert!(matches!(err(r"b'\xzz'"), PyReprError::InvalidEscape { .. }));
    }

    #[test]
    fn string_errors() {
        assert!(matches!(err("'abc"), PyReprError::UnterminatedString { offset: 0 }));
        assert_eq!(err("[1, 'abc").to_string(), "unterminated string at offset 4");
        assert!(matches!(err("'a\nb'"), PyReprError::UnterminatedString { .. }));
        assert!(matches!(err("'a\rb'"), PyReprError::UnterminatedString { .. }));
        assert!(matches!(err("'''abc''"), PyReprError::UnterminatedString { .. }));
        assert!(matches!(err(r"r'\'"), PyReprError::UnterminatedString { .. }));
        assert!(matches!(err("'a\\"), PyReprError::UnterminatedString { .. }));
        assert!(matches!(err("b'é'"), PyReprError::NonAsciiBytes { offset: 2 }));
        assert!(matches!(err("b'a' 'b'"), PyReprError::MixedBytes { offset: 5 }));
        assert!(matches!(err("'a' b'b'"), PyReprError::MixedBytes { offset: 4 }));
        assert!(matches!(err("f'x'"), PyReprError::FString { offset: 0 }));
        assert!(matches!(err("rF'x'"), PyReprError::FString { .. }));
        assert!(matches!(err("ur'x'"), PyReprError::NotALiteral { .. }));
        assert!(matches!(err("bu'x'"), PyReprError::NotALiteral { .. }));
        assert!(matches!(err("'a\0'"), PyReprError::NullByte { offset: 2 }));
    }

    #[test]
    fn adjacent_strings_concatenate() {
        assert_eq!(parse("'a' \"b\" '''c'''"), json!("abc"));
        assert_eq!(parse("'a' r'\\n' u'c'"), json!("a\\nc"));
        assert_eq!(parse("('a'\n  'b')"), json!("ab"));
        assert_eq!(parse("'a' \\\n 'b'"), json!("ab"));
        assert_eq!(parse("b'a' B'b'"), json!("ab"));
        assert!(err("'a'\n'b'").to_string().starts_with("unexpected character"));
    }

    #[test]
    fn numbers() {
        assert_eq!(parse("0"), json!(0));
        assert_eq!(parse("00"), json!(0));
        assert_eq!(parse("1_000_000"), json!(1_000_000));
        assert_eq!(parse("-42"), json!(-42));
        assert_eq!(parse("+42"), json!(42));
        assert_eq!(parse("- 42"), json!(-42));
        assert_eq!(parse("-(42)"), json!(-42));
        assert_eq!(parse("-0"), json!(0));
        assert_eq!(parse("0xFF"), json!(255));
        assert_eq!(parse("0x_ff"), json!(255));
        assert_eq!(parse("0o17"), json!(15));
        assert_eq!(parse("0B1_0"), json!(2));
        assert_eq!(parse("18446744073709551615"), json!(u64::MAX));
        assert_eq!(parse("-9223372036854775808"), json!(i64::MIN));
        assert_eq!(parse("-9223372036854775809"), json!(-9223372036854775809.0));
        assert_eq!(parse("18446744073709551616"), json!(18446744073709551616.0));
        assert_eq!(parse("0x10000000000000000"), json!(18446744073709551616.0));
        // Round-half-even past 64 bits, including ties decided by bits far below the top 64.
        let wide: &[(&str, f64)] = &[
            ("0x10000000000000800", 1.8446744073709552e19),
            ("0x10000000000000801", 1.8446744073709556e19),
            ("0x10000000000001800", 1.844674407370956e19),
            ("0x1000000000000080000000000000001", 1.3292279957849162e36),
            ("0x1000000000000080000000000000000", 1.329227995784916e36),
            (
                "0b11111111111111111111111111111111111111111111111111111100000000000000000000",
                1.888946593147858e22,
            ),
        ];
        for &(source, want) in wide {
            assert_eq!(parse(source).as_f64(), Some(want), "{source}");
        }
        assert_eq!(parse("1.5"), json!(1.5));
        assert_eq!(parse(".5"), json!(0.5));
        assert_eq!(parse("1."), json!(1.0));
        assert_eq!(parse("1e10"), json!(1e10));
        assert_eq!(parse("1E+5"), json!(1e5));
        assert_eq!(parse("1.e-5"), json!(1e-5));
        assert_eq!(parse("1_000.5"), json!(1000.5));
        assert_eq!(parse("01.5"), json!(1.5));
        assert_eq!(parse("-0.0").as_f64().map(f64::is_sign_negative), Some(true));
        assert_eq!(parse("5e-324"), json!(5e-324));
        for bad in [
            "01", "1__0", "1_", "1._5", "1_.5", "1e", "0b102", "0o8", "0xg", "0x", "12abc", "1.5_",
        ] {
            assert!(matches!(err(bad), PyReprError::InvalidNumber { .. }), "{bad}");
        }
        for range in ["1e400", "-1e400", &"9".repeat(400), &format!("0x{}", "f".repeat(300))] {
            assert!(matches!(err(range), PyReprError::OutOfRange { .. }), "{range}");
        }
        assert!(matches!(err("1j"), PyReprError::Unsupported { .. }));
        assert!(matches!(err("inf"), PyReprError::NotALiteral { .. }));
        assert!(matches!(err("nan"), PyReprError::NotALiteral { .. }));
        assert!(matches!(err("--1"), PyReprError::SignOnNonNumber { offset: 1 }));
        assert!(matches!(err("-(-1)"), PyReprError::SignOnNonNumber { .. }));
        assert!(matches!(err("-True"), PyReprError::SignOnNonNumber { .. }));
        assert!(matches!(err("-'a'"), PyReprError::SignOnNonNumber { .. }));
        assert!(matches!(err("-(1,)"), PyReprError::SignOnNonNumber { .. }));
        assert!(err("1 + 2").to_string().starts_with("unexpected character '+'"));
    }

    #[test]
    fn constants_and_containers() {
        assert_eq!(parse("None"), Value::Null);
        assert_eq!(parse("True"), json!(true));
        assert_eq!(parse("False"), json!(false));
        assert_eq!(parse("[]"), json!([]));
        assert_eq!(parse("[1, 'a', None,]"), json!([1, "a", null]));
        assert_eq!(parse("()"), json!([]));
        assert_eq!(parse("(1,)"), json!([1]));
        assert_eq!(parse("(1)"), json!(1));
        assert_eq!(parse("((1))"), json!(1));
        assert_eq!(parse("(1, (2, 3))"), json!([1, [2, 3]]));
        assert_eq!(parse("1, 2"), json!([1, 2]));
        assert_eq!(parse("1,"), json!([1]));
        assert_eq!(parse("{}"), json!({}));
        assert_eq!(parse("{'a': 1,}"), json!({"a": 1}));
        assert_eq!(parse("{1, 2, 1}"), json!([1, 2]));
        assert_eq!(parse("{(1, 2)}"), json!([[1, 2]]));
        assert_eq!(parse("set()"), json!([]));
        assert_eq!(parse("set( )"), json!([]));
        assert_eq!(parse("[\n 1, # one\n 2\n]"), json!([1, 2]));
        assert_eq!(parse("{\n'a'\n:\n1\n}"), json!({"a": 1}));
        assert_eq!(parse("  \t 1 # trailing\n\n"), json!(1));
        assert_eq!(parse("\n# c\n\n1\r\n"), json!(1));
        assert!(matches!(err("\n 1"), PyReprError::UnexpectedIndent { .. }));
        assert_eq!(parse("1\\\n\n"), json!(1));
        assert_eq!(parse("1\n \n"), json!(1));
        assert_eq!(parse("\\\n\x0c1"), json!(1));
        assert!(matches!(err("\\\n 1"), PyReprError::UnexpectedIndent { offset: 3 }));
        assert!(matches!(err("#c\\\n 1"), PyReprError::UnexpectedIndent { .. }));
        assert!(matches!(err("1\n "), PyReprError::UnexpectedIndent { offset: 3 }));
        assert!(matches!(
            err("1\\\n"),
            PyReprError::UnexpectedChar { found: '\\', offset: 1 }
        ));
        assert!(matches!(
            err("[1 2]"),
            PyReprError::UnexpectedChar { found: '2', offset: 3 }
        ));
        assert!(matches!(err("[,]"), PyReprError::UnexpectedChar { found: ',', .. }));
        assert!(matches!(err("(,)"), PyReprError::UnexpectedChar { .. }));
        assert!(matches!(err("{,}"), PyReprError::UnexpectedChar { .. }));
        assert!(matches!(err("[1"), PyReprError::UnexpectedEnd { offset: 2 }));
        assert!(matches!(err(""), PyReprError::UnexpectedEnd { offset: 0 }));
        assert!(matches!(err("..."), PyReprError::Unsupported { .. }));
        assert!(matches!(err("{[1]}"), PyReprError::Unhashable { offset: 1 }));
        assert!(matches!(err("{(1, [2])}"), PyReprError::Unhashable { .. }));
        assert!(matches!(err("{1: 2}"), PyReprError::NonStringKey { offset: 1 }));
        assert!(matches!(
            err("{'a': 1, b'b': 2}"),
            PyReprError::NonStringKey { offset: 9 }
        ));
        assert_eq!(err("{'a': 1, (1,): 2}").to_string(), "non-string dict key at offset 9");
    }

    #[test]
    fn duplicate_keys_keep_first_position_and_last_value() {
        let value = parse("{'a': 1, 'b': 2, 'a': 3}");
        assert_eq!(value, json!({"a": 3, "b": 2}));
        let keys: Vec<&str> = value
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(keys, ["a", "b"]);
    }

    #[test]
    fn rejects_code() {
        let e = err("{'user-agent': __import__('os').system('x')}");
        assert_eq!(e.to_string(), "name '__import__' is not a literal at offset 15");
        for code in [
            "os",
            "lambda: 1",
            "__import__('os')",
            "print('x')",
            "'x'.upper()",
            "[1][0]",
            "(1)(2)",
            "1 .real",
            "not 1",
            "1 if 1 else 2",
            "{**{}}",
            "[*[]]",
            "true",
            "[x for x in y]",
            "f'{x}'",
            "Ellipsis",
            "set([1])",
            "set",
        ] {
            assert!(parse_python_literal(code).is_err(), "{code} must be rejected");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let ok = format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse_python_literal(&ok).is_ok());
        let deep = format!("{}1{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(
            err(&deep).to_string(),
            format!("nesting too deep at offset {MAX_DEPTH}")
        );
        for open in ["(", "[", "{", "{'a': ", "(1, "] {
            let huge = open.repeat(200_000);
            assert!(matches!(err(&huge), PyReprError::TooDeep { .. }), "{open}");
        }
    }

    /// Values built by a seeded Python generator, checked against Python's own json.dumps.
    const PY_GENERATE: &str = r#"
import json, random, struct, sys
rng = random.Random(1234)
def rand_char():
    k = rng.randrange(12)
    if k < 4: return chr(rng.randrange(0x20, 0x7f))
    if k == 4: return rng.choice(["'", '"', "\\", "\\\\", "'''", '"""', "\\'", "\n", "\r\n"])
    if k == 5: return chr(rng.randrange(0, 0x20))
    if k == 6: return rng.choice(["\x7f", "\u2028", "\u2029", "\x85", "\xa0", "\ufeff", "\u200b"])
    if k == 7: return chr(rng.randrange(0x80, 0x100))
    if k == 8: return chr(rng.randrange(0x4e00, 0xa000))
    if k == 9: return chr(rng.randrange(0x1f300, 0x1fb00))
    if k == 10: return chr(rng.randrange(0x300, 0x370))
    return chr(rng.choice([rng.randrange(0x100, 0xd800), rng.randrange(0xe000, 0x110000)]))
def rand_str():
    return "".join(rand_char() for _ in range(rng.randrange(12)))
def rand_float():
    k = rng.randrange(4)
    if k == 0:
        while True:
            f = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
            if f == f and f not in (float("inf"), float("-inf")): return f
    if k == 1: return rng.choice([0.0, -0.0, 1e16, 1e15, 1e-5, 1e-4, 5e-324, 1.7976931348623157e308, 0.1 + 0.2, 1e22, -2.5])
    if k == 2: return rng.uniform(-1e6, 1e6)
    return rng.randrange(-10**6, 10**6) * 10.0 ** rng.randrange(-30, 30)
def rand_int():
    k = rng.randrange(4)
    if k == 0: return rng.randrange(-1000, 1000)
    if k == 1: return rng.randrange(-2**63, 2**64)
    if k == 2: return rng.choice([2**63 - 1, -2**63, 2**64 - 1, 2**64, -2**63 - 1, 2**100, -3**90])
    return rng.randrange(-10**40, 10**40)
def rand_value(depth):
    k = rng.randrange(7 if depth >= 4 else 10)
    if k == 0: return rng.choice([None, True, False])
    if k == 1: return rand_int()
    if k == 2: return rand_float()
    if k in (3, 4, 5, 6): return rand_str()
    if k == 7: return {rand_str(): rand_value(depth + 1) for _ in range(rng.randrange(5))}
    if k == 8: return [rand_value(depth + 1) for _ in range(rng.randrange(5))]
    return tuple(rand_value(depth + 1) for _ in range(rng.randrange(4)))
values = [rand_value(0) for _ in range(400)]
values += [{rand_str(): rand_str() for _ in range(rng.randrange(1, 8))} for _ in range(100)]
for x in values:
    print(json.dumps({"repr": repr(x), "json": json.dumps(x)}))
"#;

    fn same_value(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(p), Some(q), _, _) => p == q,
                (_, _, Some(p), Some(q)) => p == q,
                _ => x.is_f64() && y.is_f64() && x.as_f64() == y.as_f64(),
            },
            (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_value(p, q)),
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .zip(y)
                        .all(|((kp, vp), (kq, vq))| kp == kq && same_value(vp, vq))
            }
            _ => a == b,
        }
    }

    #[test]
    fn matches_python_repr() {
        let output = Command::new("python3")
            .arg("-c")
            .arg(PY_GENERATE)
            .output()
            .expect("python3 must be on PATH for the cross-check tests");
        assert!(
            output.status.success(),
            "python3 failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).expect("python output is utf-8");
        let mut checked = 0;
        for (index, line) in stdout.lines().enumerate() {
            let record: Value = serde_json::from_str(line).expect("python line parses");
            let (Some(repr), Some(dumped)) = (record["repr"].as_str(), record["json"].as_str()) else {
                panic!("line {index} lacks repr/json: {line}");
            };
            let want: Value = serde_json::from_str(dumped).expect("python json parses");
            let ours = parse_python_literal(repr).unwrap_or_else(|e| panic!("line {index}: {e} for {repr}"));
            assert!(
                same_value(&ours, &want),
                "line {index}: repr {repr}\n ours {ours}\n want {want}"
            );
            checked += 1;
        }
        assert!(checked >= 300, "only {checked} values checked");
    }

    fn mutate(source: &str, edits: &[(usize, usize, char)]) -> String {
        let mut chars: Vec<char> = source.chars().collect();
        for &(kind, at, c) in edits {
            let at = if chars.is_empty() { 0 } else { at % (chars.len() + 1) };
            match kind % 3 {
                0 => chars.insert(at, c),
                1 if at < chars.len() => {
                    chars.remove(at);
                }
                _ if at < chars.len() => chars[at] = c,
                _ => {}
            }
        }
        chars.into_iter().collect()
    }

    const SEEDS: &[&str] = &[
        r#"{'host': 'x', 'user-agent': "Mozilla/5.0 (it's)", 'x-forwarded-for': '1.2.3.4, 10.0.0.1'}"#,
        r"[1, -2.5e-3, 0x_ff, (None, True), {'a': b'\x00\777'}, set(), {1, 2}]",
        r"'''multi\nline''' r'raw\'' u'\u00e9\U0001F600\N{X}' '\777\8'",
        "(\n  1,\n  # comment\n  [1_000.5, .5, 1.],\n)",
    ];

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(text in ".*") {
            let _ = parse_python_literal(&text);
        }

        #[test]
        fn never_panics_on_syntax_soup(text in "[\\[\\](){}'\",:.0-9a-fA-Zx_\\\\ \n\r\t+#rbuN-]{0,80}") {
            let _ = parse_python_literal(&text);
        }

        #[test]
        fn never_panics_on_mutated_reprs(
            seed in 0..SEEDS.len(),
            edits in proptest::collection::vec((0usize..3, 0usize..200, proptest::char::any()), 1..6),
        ) {
            let _ = parse_python_literal(&mutate(SEEDS[seed], &edits));
        }

        #[test]
        fn errors_carry_in_range_offsets(text in ".{0,60}") {
            if let Err(e) = parse_python_literal(&text) {
                proptest::prop_assert!(e.offset() <= text.len());
            }
        }
    }
}
