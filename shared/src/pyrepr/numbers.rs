//! Number literals: decimal, hex, octal and binary integers of any size, floats, signs.

use super::*;

impl Parser<'_> {
    pub(super) fn parse_number(&mut self) -> Result<Parsed, PyReprError> {
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

pub(super) fn negate(value: Value) -> Option<Value> {
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
