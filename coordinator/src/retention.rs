//! What a run leaves in the store, and removing it. A run's private intermediates (map
//! fragments with every row's raw IP and device fingerprint, analysed partitions with the
//! unredacted text, per-string PII counts, the unredacted-then-redacted shards before commit)
//! must not outlive it: after a successful commit they are deleted unless the operator keeps
//! them (`--keep-intermediates`), and `coordinator runs gc` removes those of kept and failed
//! runs. What stays under `runs/<run>/` is public or a reference: the plan, the quarantine
//! records (object, line, byte range, reason; never the row) and the exclusion lists.

use std::fmt::Write as _;

use release::manifest::manifest_key;
use shared::jobs::RunLayout;
use storage::{get_json, ObjectStore, StoreError};

use crate::plan::RunPlan;

/// Folders of `runs/<run>/` holding private intermediates.
pub const PRIVATE_FOLDERS: [&str; 4] = ["map", "partitions", "pii", "shards"];

/// Deletes at once, per store call batch.
const DELETE_CONCURRENCY: usize = 16;

/// What was removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    pub objects: u64,
    pub bytes: u64,
}

/// Keys (and sizes) of the run's private intermediates.
async fn private_objects(store: &dyn ObjectStore, run_id: &str) -> Result<Vec<(String, u64)>, StoreError> {
    let prefix = RunLayout::new(run_id).prefix();
    let mut found = Vec::new();
    for folder in PRIVATE_FOLDERS {
        for object in store.list(&format!("{prefix}{folder}/")).await? {
            found.push((object.key, object.size));
        }
    }
    Ok(found)
}

/// Deletes the run's private intermediates; a key already gone counts as deleted.
pub async fn delete_intermediates(store: &dyn ObjectStore, run_id: &str) -> Result<Removed, StoreError> {
    let objects = private_objects(store, run_id).await?;
    let mut removed = Removed::default();
    for batch in objects.chunks(DELETE_CONCURRENCY) {
        let results = join_all(batch.iter().map(|(key, _)| async move { store.delete(key).await })).await;
        for ((_, size), result) in batch.iter().zip(results) {
            match result {
                Ok(()) | Err(StoreError::NotFound { .. }) => {
                    removed.objects += 1;
                    removed.bytes += size;
                }
                Err(error) => return Err(error),
            }
        }
    }
    Ok(removed)
}

/// Runs a batch of futures concurrently and returns their results in order.
async fn join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|context| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(context) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// One run as `coordinator runs list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEntry {
    pub run_id: String,
    pub version: String,
    pub created_at: String,
    /// Its version has a manifest.
    pub committed: bool,
    /// Private intermediates still in the store.
    pub private_objects: u64,
    pub private_bytes: u64,
}

/// Every run with a plan in the store, by run id.
pub async fn list_runs(store: &dyn ObjectStore) -> anyhow::Result<Vec<RunEntry>> {
    let mut runs = Vec::new();
    for object in store.list("runs/").await? {
        if !(object.key.ends_with("/plan.json") && object.key.matches('/').count() == 2) {
            continue;
        }
        let plan: RunPlan = get_json(store, &object.key).await?;
        let private = private_objects(store, &plan.run_id).await?;
        runs.push(RunEntry {
            committed: store.head(&manifest_key(&plan.version)).await?.is_some(),
            private_objects: private.len() as u64,
            private_bytes: private.iter().map(|(_, size)| size).sum(),
            run_id: plan.run_id,
            version: plan.version,
            created_at: plan.created_at,
        });
    }
    runs.sort_by(|left, right| left.run_id.cmp(&right.run_id));
    Ok(runs)
}

/// What `gc` did to one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collected {
    pub run_id: String,
    pub removed: Removed,
    /// The unfinished run's claim on its version was released too.
    pub claim_released: bool,
}

/// Removes the private intermediates of committed runs (kept with `--keep-intermediates`) and,
/// when `unfinished_older_than` is given, of unfinished runs planned longer ago than that (they
/// can no longer be resumed; their claim on the version is released). `now` is the current time.
pub async fn gc(
    store: &dyn ObjectStore,
    unfinished_older_than: Option<chrono::Duration>,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Vec<Collected>> {
    let mut collected = Vec::new();
    for run in list_runs(store).await? {
        let stale = unfinished_older_than.is_some_and(|age| {
            chrono::DateTime::parse_from_rfc3339(&run.created_at)
                .is_ok_and(|created| now.signed_duration_since(created) > age)
        });
        if !(run.committed || stale) || run.private_objects == 0 && run.committed {
            continue;
        }
        let removed = delete_intermediates(store, &run.run_id).await?;
        let mut claim_released = false;
        if !run.committed {
            let key = release::claim::claim_key(&run.version);
            let claimant = crate::pipeline::run_claimant(&run.run_id);
            if let Ok(claim) = get_json::<release::claim::Claim>(store, &key).await {
                if claim.claimant == claimant {
                    store.delete(&key).await?;
                    claim_released = true;
                }
            }
        }
        collected.push(Collected {
            run_id: run.run_id,
            removed,
            claim_released,
        });
    }
    Ok(collected)
}

/// `coordinator runs list`.
pub fn render_runs(runs: &[RunEntry]) -> String {
    let mut out = String::new();
    if runs.is_empty() {
        out.push_str("no runs\n");
    }
    for run in runs {
        let state = if run.committed { "committed" } else { "unfinished" };
        let private = if run.private_objects == 0 {
            "no private intermediates".to_string()
        } else {
            format!(
                "private intermediates: {} objects, {}",
                run.private_objects,
                crate::summary::mebibytes(run.private_bytes)
            )
        };
        let _ = writeln!(
            out,
            "{:<32} version {:<24} {:<10} planned {}  {private}",
            run.run_id, run.version, state, run.created_at
        );
    }
    out
}

/// Parses `30d`, `12h`, `90m` or `45s`.
pub fn parse_age(text: &str) -> Result<chrono::Duration, String> {
    let text = text.trim();
    let wrong = || format!("{text:?} is not an age: use a number and a unit, as in 30d, 12h, 90m or 45s");
    let split = text.len().saturating_sub(1);
    let (number, unit) = text.split_at(if text.is_char_boundary(split) { split } else { 0 });
    let amount: i64 = number.parse().map_err(|_| wrong())?;
    match unit {
        "d" => Ok(chrono::Duration::days(amount)),
        "h" => Ok(chrono::Duration::hours(amount)),
        "m" => Ok(chrono::Duration::minutes(amount)),
        "s" => Ok(chrono::Duration::seconds(amount)),
        _ => Err(wrong()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use storage::local::LocalStore;
    use storage::PutMode;

    #[test]
    fn ages_take_a_unit() {
        assert_eq!(parse_age("30d"), Ok(chrono::Duration::days(30)));
        assert_eq!(parse_age("12h"), Ok(chrono::Duration::hours(12)));
        assert!(parse_age("30").is_err());
        assert!(parse_age("d").is_err());
        assert!(parse_age("3w").is_err());
        assert!(parse_age("30").unwrap_err().contains("as in 30d"));
        assert!(parse_age("3é").is_err());
    }

    #[tokio::test]
    async fn only_the_private_folders_are_deleted() {
        let directory = tempfile::tempdir().unwrap();
        let store = LocalStore::open(directory.path()).unwrap();
        let keys = [
            "runs/r/plan.json",
            "runs/r/map/m-0/p00000.jsonl.zst",
            "runs/r/map/m-0/_SUCCESS.json",
            "runs/r/partitions/p00000.analysed.jsonl.zst",
            "runs/r/pii/frequent.bin",
            "runs/r/shards/p00000.full.parquet",
            "runs/r/quarantine/m-0.jsonl.zst",
            "runs/r/exclusions/benchmark.txt",
            "runs/other/map/m-0/p00000.jsonl.zst",
        ];
        for key in keys {
            store
                .put(key, Bytes::from_static(b"x"), PutMode::Overwrite)
                .await
                .unwrap();
        }
        let removed = delete_intermediates(&store, "r").await.unwrap();
        assert_eq!(removed, Removed { objects: 5, bytes: 5 });
        let mut left: Vec<String> = store
            .list("runs/")
            .await
            .unwrap()
            .into_iter()
            .map(|object| object.key)
            .collect();
        left.sort();
        assert_eq!(
            left,
            vec![
                "runs/other/map/m-0/p00000.jsonl.zst",
                "runs/r/exclusions/benchmark.txt",
                "runs/r/plan.json",
                "runs/r/quarantine/m-0.jsonl.zst",
            ]
        );
        assert_eq!(delete_intermediates(&store, "r").await.unwrap(), Removed::default());
    }
}
