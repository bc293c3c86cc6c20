//! Lists of conversations to leave out of a release: benchmark reservations and takedown
//! requests, given by `conversation_hash` or by `turn_identifier` (DESIGN §6, release filters).
//! The same format serves `release amend --remove`.

use std::collections::HashSet;

/// One list: a text file with an entry per line, a 32-hex `conversation_hash` or a decimal
/// `turn_identifier`; blank lines and `#` comments are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExclusionList {
    pub hashes: HashSet<String>,
    pub turn_identifiers: HashSet<i64>,
    /// Entries read (duplicates included).
    pub entries: u64,
}

impl ExclusionList {
    /// Parses a list; `source` names it in errors, which give the line number and the reason.
    pub fn parse(source: &str, text: &[u8]) -> anyhow::Result<ExclusionList> {
        let text = std::str::from_utf8(text).map_err(|error| anyhow::anyhow!("{source}: not UTF-8 text ({error})"))?;
        let mut list = ExclusionList::default();
        for (index, raw_line) in text.lines().enumerate() {
            let line = raw_line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            if line.len() == 32 && line.bytes().all(|byte| byte.is_ascii_hexdigit()) {
                list.hashes.insert(line.to_ascii_lowercase());
            } else if let Ok(identifier) = line.parse::<i64>() {
                list.turn_identifiers.insert(identifier);
            } else {
                anyhow::bail!(
                    "{source} line {}: {line:?} is neither a 32-hex conversation_hash nor a decimal turn_identifier",
                    index + 1
                );
            }
            list.entries += 1;
        }
        Ok(list)
    }

    /// Whether a conversation with this hash and these turn identifiers is listed.
    pub fn matches(&self, conversation_hash: &str, turn_identifiers: impl IntoIterator<Item = i64>) -> bool {
        self.hashes.contains(conversation_hash)
            || (!self.turn_identifiers.is_empty()
                && turn_identifiers
                    .into_iter()
                    .any(|identifier| self.turn_identifiers.contains(&identifier)))
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty() && self.turn_identifiers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_comments_and_errors() {
        let text = b"# takedowns\n0123456789ABCDEF0123456789abcdef\n\n42  # a turn\n";
        let list = ExclusionList::parse("takedowns.txt", text).unwrap();
        assert_eq!(list.entries, 2);
        assert!(list.matches("0123456789abcdef0123456789abcdef", []));
        assert!(list.matches("other", [7, 42]));
        assert!(!list.matches("other", [7]));
        let error = ExclusionList::parse("bad.txt", b"42\nnot-a-hash\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("bad.txt line 2"), "{error}");
    }
}
