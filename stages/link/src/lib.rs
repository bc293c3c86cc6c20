//! The link stage: rows into conversations exactly as the reference processing linked them
//! (DESIGN §6).
//! A pure function over one partition's rows: every link candidate shares fingerprint,
//! model and first message, so running it per partition gives the single-pass result.

use std::collections::HashMap;

use shared::raw::LinkRow;

/// The outcome of linking: conversations as row indices (first to last) plus what was dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Linked {
    /// Each conversation's rows in order, indices into the input slice. Conversations are
    /// ordered by their first row's (timestamp, id).
    pub conversations: Vec<Vec<usize>>,
    /// Chains dropped because a row with history found no parent.
    pub dropped_chains: u64,
    pub dropped_rows: u64,
}

/// Links rows. The input order does not matter; the result is deterministic.
pub fn link_rows(rows: &[LinkRow]) -> Linked {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&left, &right| {
        (rows[left].timestamp_us, rows[left].id).cmp(&(rows[right].timestamp_us, rows[right].id))
    });

    // Unextended rows by (current_hash, fingerprint, model), in processing order.
    let mut open: HashMap<(&str, &str, &str), Vec<usize>> = HashMap::new();
    let mut parent: Vec<Option<usize>> = vec![None; rows.len()];
    let mut extended = vec![false; rows.len()];
    let mut orphan = vec![false; rows.len()];

    for &index in &order {
        let row = &rows[index];
        if let Some(prev_hash) = row.prev_hash.as_deref() {
            let key = (prev_hash, row.fingerprint.as_str(), row.model.as_str());
            let mut chosen = None;
            if let Some(candidates) = open.get_mut(&key) {
                // Most recent same-IP candidate first, else the most recent of any IP.
                let position = candidates
                    .iter()
                    .rposition(|&candidate| rows[candidate].ip == row.ip)
                    .or_else(|| candidates.len().checked_sub(1));
                if let Some(position) = position {
                    chosen = Some(candidates.remove(position));
                }
            }
            match chosen {
                Some(parent_index) => {
                    parent[index] = Some(parent_index);
                    extended[parent_index] = true;
                }
                None => orphan[index] = true,
            }
        }
        open.entry((row.current_hash.as_str(), row.fingerprint.as_str(), row.model.as_str()))
            .or_default()
            .push(index);
    }

    let mut linked = Linked::default();
    for &index in &order {
        if extended[index] {
            continue;
        }
        let mut chain = vec![index];
        let mut has_orphan = orphan[index];
        let mut cursor = index;
        while let Some(parent_index) = parent[cursor] {
            chain.push(parent_index);
            has_orphan |= orphan[parent_index];
            cursor = parent_index;
        }
        if has_orphan {
            linked.dropped_chains += 1;
            linked.dropped_rows += chain.len() as u64;
            continue;
        }
        chain.reverse();
        linked.conversations.push(chain);
    }
    linked.conversations.sort_by_key(|chain| {
        let first = &rows[chain[0]];
        (first.timestamp_us, first.id)
    });
    linked
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};
    use sha2::{Digest, Sha256};

    fn hash(text: &str) -> String {
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    fn row(id: i64, time: i64, ip: &str, history: &[&str], reply: &str) -> LinkRow {
        let mut full: Vec<&str> = history.to_vec();
        full.push(reply);
        LinkRow {
            id,
            timestamp_us: time,
            model: "m".into(),
            fingerprint: "f".into(),
            ip: ip.into(),
            user_agent: None,
            accept_language: None,
            current_hash: hash(&full.join("\u{1}")),
            prev_hash: (history.len() > 1).then(|| hash(&history[..history.len() - 1].join("\u{1}"))),
            user_content: history.last().unwrap_or(&"").to_string(),
            assistant_content: reply.into(),
        }
    }

    fn ids(rows: &[LinkRow], linked: &Linked) -> Vec<Vec<i64>> {
        linked
            .conversations
            .iter()
            .map(|chain| chain.iter().map(|&index| rows[index].id).collect())
            .collect()
    }

    #[test]
    fn follows_the_reference_rules() {
        let rows = vec![
            row(1, 10, "a", &["hi"], "r1"),
            // Regenerated first turn: a second conversation start.
            row(2, 20, "a", &["hi"], "r1b"),
            row(3, 30, "a", &["hi", "r1b", "more"], "r2"),
            // Regenerated later turn: its parent is already extended, so it is an orphan.
            row(4, 40, "a", &["hi", "r1b", "more"], "r2b"),
            row(5, 50, "a", &["hi", "r1b", "more", "r2b", "x"], "r3"),
            // History never logged.
            row(6, 60, "b", &["lost", "gone", "q"], "r"),
        ];
        let linked = link_rows(&rows);
        assert_eq!(ids(&rows, &linked), vec![vec![1], vec![2, 3]]);
        assert_eq!(linked.dropped_chains, 2);
        assert_eq!(linked.dropped_rows, 3);
    }

    #[test]
    fn prefers_the_same_ip_then_relaxes() {
        let rows = vec![
            row(1, 10, "ip1", &["hi"], "hello"),
            row(2, 11, "ip2", &["hi"], "hello"),
            row(3, 20, "ip1", &["hi", "hello", "a"], "ra"),
            row(4, 21, "ip3", &["hi", "hello", "b"], "rb"),
        ];
        let linked = link_rows(&rows);
        // Row 3 takes its own IP's parent (1) although 2 is more recent; row 4 relaxes to 2.
        assert_eq!(ids(&rows, &linked), vec![vec![1, 3], vec![2, 4]]);
    }

    #[test]
    fn ties_in_time_are_broken_by_id() {
        let rows = vec![
            row(2, 10, "a", &["hi", "r", "next"], "r2"),
            row(1, 10, "a", &["hi"], "r"),
        ];
        assert_eq!(ids(&rows, &link_rows(&rows)), vec![vec![1, 2]]);
    }

    /// Random rows drawn from a few fingerprints, models, IPs and a tiny vocabulary so that
    /// collisions, regenerations and orphans are frequent.
    fn random_rows(seed: u64, count: usize) -> Vec<LinkRow> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut rows: Vec<LinkRow> = Vec::new();
        let mut histories: Vec<(Vec<String>, String, String)> = Vec::new();
        for id in 0..count as i64 {
            let fingerprint = format!("f{}", rng.random_range(0..3));
            let model = format!("m{}", rng.random_range(0..2));
            let ip = format!("ip{}", rng.random_range(0..3));
            let mut history: Vec<String> = if !histories.is_empty() && rng.random_bool(0.6) {
                let (previous, reply, _) = &histories[rng.random_range(0..histories.len())];
                let mut extended = previous.clone();
                extended.push(reply.clone());
                extended.push(format!("u{}", rng.random_range(0..3)));
                extended
            } else {
                vec![format!("u{}", rng.random_range(0..3))]
            };
            if rng.random_bool(0.05) {
                history.insert(0, "lost".into());
                history.insert(1, "gone".into());
            }
            let reply = format!("r{}", rng.random_range(0..3));
            let mut full = history.clone();
            full.push(reply.clone());
            let first = history[0].clone();
            rows.push(LinkRow {
                id,
                timestamp_us: rng.random_range(0..(count as i64 / 2 + 1)),
                model: model.clone(),
                fingerprint: fingerprint.clone(),
                ip,
                user_agent: None,
                accept_language: None,
                current_hash: hash(&format!("{fingerprint}|{model}|{}", full.join("\u{1}"))),
                prev_hash: (history.len() > 1).then(|| {
                    hash(&format!(
                        "{fingerprint}|{model}|{}",
                        history[..history.len() - 1].join("\u{1}")
                    ))
                }),
                user_content: first,
                assistant_content: reply.clone(),
            });
            histories.push((history, reply, fingerprint));
        }
        rows
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn partitioned_linking_equals_single_pass(seed in any::<u64>(), count in 1usize..300, partitions in 1u32..9) {
            let rows = random_rows(seed, count);
            let single = link_rows(&rows);
            let mut single_ids = ids(&rows, &single);
            single_ids.sort();

            // Partition by (fingerprint, model, first message) as the map jobs do.
            let mut buckets: Vec<Vec<LinkRow>> = vec![Vec::new(); partitions as usize];
            for row in &rows {
                let key = hash(&format!("{}|{}|{}", row.fingerprint, row.model, row.user_content));
                let bucket = (u64::from_str_radix(&key[..15], 16).unwrap() % u64::from(partitions)) as usize;
                buckets[bucket].push(row.clone());
            }
            let mut partitioned_ids = Vec::new();
            let (mut chains, mut dropped) = (0, 0);
            for bucket in &buckets {
                let linked = link_rows(bucket);
                chains += linked.dropped_chains;
                dropped += linked.dropped_rows;
                partitioned_ids.extend(ids(bucket, &linked));
            }
            partitioned_ids.sort();
            prop_assert_eq!(partitioned_ids, single_ids);
            prop_assert_eq!(chains, single.dropped_chains);
            prop_assert_eq!(dropped, single.dropped_rows);
        }
    }
}
