//! Named run counters. Every dropped, quarantined or skipped item is counted under a
//! dotted name (`quarantined.invalid_json`, `chains_dropped.missing_parent`) so summaries
//! and manifests can group them by reason.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Counters(BTreeMap<String, u64>);

impl Counters {
    pub fn add(&mut self, name: &str, amount: u64) {
        if amount == 0 {
            return;
        }
        *self.0.entry(name.to_string()).or_insert(0) += amount;
    }

    pub fn get(&self, name: &str) -> u64 {
        self.0.get(name).copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn merge(&mut self, other: &Counters) {
        for (name, amount) in &other.0 {
            self.add(name, *amount);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.0.iter().map(|(name, amount)| (name.as_str(), *amount))
    }

    /// Counters under `group.`, keyed by the rest of the name.
    pub fn group(&self, group: &str) -> BTreeMap<String, u64> {
        let prefix = format!("{group}.");
        self.0
            .iter()
            .filter_map(|(name, amount)| name.strip_prefix(&prefix).map(|rest| (rest.to_string(), *amount)))
            .collect()
    }

    pub fn group_total(&self, group: &str) -> u64 {
        self.group(group).values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_and_group() {
        let mut left = Counters::default();
        left.add("quarantined.invalid_json", 2);
        left.add("rows_read", 10);
        let mut right = Counters::default();
        right.add("quarantined.invalid_json", 1);
        right.add("quarantined.bad_headers", 4);
        right.add("ignored", 0);
        left.merge(&right);
        assert_eq!(left.get("quarantined.invalid_json"), 3);
        assert_eq!(left.group_total("quarantined"), 7);
        assert_eq!(left.group("quarantined").len(), 2);
        assert_eq!(left.get("ignored"), 0);
        assert_eq!(left.iter().count(), 3);
    }
}
