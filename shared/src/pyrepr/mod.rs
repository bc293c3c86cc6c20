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
}

fn not_a_literal(name: &str, offset: usize) -> PyReprError {
    let shown: String = name.chars().take(MAX_NAME_IN_ERROR).collect();
    PyReprError::NotALiteral { name: shown, offset }
}

mod numbers;
mod strings;

use numbers::negate;

#[cfg(test)]
mod tests;
