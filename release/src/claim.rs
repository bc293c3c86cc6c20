//! Versions that cannot be overwritten. Before anything is written under `releases/<v>/`, the
//! writer (a run's commit, an amend) claims the version: `claims/<v>.json` is created only if
//! absent, naming the claimant. A second writer with another claimant is refused before it
//! writes a single object; the same claimant (a resumed run, a retried amend) may go on. The
//! manifest, still written last and only if absent, is what makes the version exist.
//!
//! A claim outlives a failed writer on purpose: the version stays reserved for the run that
//! can resume it. The refusal says how to free it.

use serde::{Deserialize, Serialize};
use storage::{get_json, put_json, ObjectStore, PutMode, StoreError};

use crate::manifest::manifest_key;

/// `claims/<version>.json`
pub fn claim_key(version: &str) -> String {
    format!("claims/{version}.json")
}

/// Who holds a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub version: String,
    /// `run <run id>` or `amend of <parent> (removal list <sha256 prefix>)`.
    pub claimant: String,
    pub claimed_at: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("release {version} already exists in {store}; releases are immutable: choose another version")]
    Exists { version: String, store: String },
    #[error(
        "release {version} is claimed by {claimant} (since {claimed_at}; {key}): resume that work, or delete \
         {key} if it was abandoned and nothing has been committed"
    )]
    ClaimedByOther {
        version: String,
        claimant: String,
        claimed_at: String,
        key: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Claims `version` for `claimant`, or confirms that `claimant` already holds it. Fails when
/// the version exists (its manifest) or another claimant holds it; writes nothing else.
pub async fn claim_version(store: &dyn ObjectStore, version: &str, claimant: &str) -> Result<Claim, ClaimError> {
    let exists = || ClaimError::Exists {
        version: version.to_string(),
        store: store.describe(),
    };
    if store.head(&manifest_key(version)).await?.is_some() {
        return Err(exists());
    }
    let key = claim_key(version);
    let claim = Claim {
        version: version.to_string(),
        claimant: claimant.to_string(),
        claimed_at: chrono::Utc::now().to_rfc3339(),
    };
    match put_json(store, &key, &claim, PutMode::CreateIfAbsent).await {
        Ok(_) => Ok(claim),
        Err(StoreError::PreconditionFailed { .. }) => {
            let held: Claim = get_json(store, &key).await?;
            if held.claimant == claimant {
                Ok(held)
            } else {
                Err(ClaimError::ClaimedByOther {
                    version: version.to_string(),
                    claimant: held.claimant,
                    claimed_at: held.claimed_at,
                    key,
                })
            }
        }
        Err(error) => Err(error.into()),
    }
}

/// Checks, right before writing under `releases/<version>/`, that `claimant` still holds the
/// version and that it has not been committed meanwhile.
pub async fn check_claim(store: &dyn ObjectStore, version: &str, claimant: &str) -> Result<(), ClaimError> {
    if store.head(&manifest_key(version)).await?.is_some() {
        return Err(ClaimError::Exists {
            version: version.to_string(),
            store: store.describe(),
        });
    }
    let key = claim_key(version);
    match get_json::<Claim>(store, &key).await {
        Ok(held) if held.claimant == claimant => Ok(()),
        Ok(held) => Err(ClaimError::ClaimedByOther {
            version: version.to_string(),
            claimant: held.claimant,
            claimed_at: held.claimed_at,
            key,
        }),
        // The claim was removed by hand: take it again rather than write unclaimed.
        Err(StoreError::NotFound { .. }) => claim_version(store, version, claimant).await.map(|_| ()),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use storage::local::LocalStore;

    #[tokio::test]
    async fn one_claimant_holds_a_version_and_may_come_back() {
        let directory = tempfile::tempdir().unwrap();
        let store = LocalStore::open(directory.path()).unwrap();
        claim_version(&store, "v1", "run a").await.unwrap();
        // The same run resuming keeps its claim.
        claim_version(&store, "v1", "run a").await.unwrap();
        check_claim(&store, "v1", "run a").await.unwrap();
        let refused = claim_version(&store, "v1", "run b").await.unwrap_err();
        let message = refused.to_string();
        assert!(message.contains("claimed by run a"), "{message}");
        assert!(message.contains("claims/v1.json"), "{message}");
        assert!(check_claim(&store, "v1", "run b").await.is_err());
        // Another version is free.
        claim_version(&store, "v2", "run b").await.unwrap();
    }

    #[tokio::test]
    async fn a_committed_version_cannot_be_claimed() {
        let directory = tempfile::tempdir().unwrap();
        let store = LocalStore::open(directory.path()).unwrap();
        store
            .put(&manifest_key("v1"), Bytes::from_static(b"{}"), PutMode::CreateIfAbsent)
            .await
            .unwrap();
        let error = claim_version(&store, "v1", "run a").await.unwrap_err();
        assert!(matches!(error, ClaimError::Exists { .. }), "{error}");
        assert!(store.head(&claim_key("v1")).await.unwrap().is_none(), "nothing written");
    }
}
