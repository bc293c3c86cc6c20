//! Release channels (`stable`, `latest`...): named pointers to a released version, kept at
//! `channels/<name>.json` with their whole history. A channel moves only by compare-and-swap on
//! that object, so concurrent promotes and rollbacks never lose an update: exactly one wins and
//! the others get [`ChannelError::Moved`].

use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use shared::jobs::validate_name;
use storage::{put_json, ObjectStore, PutMode, StoreError};
use tracing::info;

use crate::manifest::manifest_key;

/// The channel object's own format (its schema version).
pub const CHANNEL_FORMAT: &str = "wildchat-channel/1";
/// Where channel objects live: `channels/<name>.json`.
pub const CHANNELS_PREFIX: &str = "channels/";

pub fn channel_key(name: &str) -> String {
    format!("{CHANNELS_PREFIX}{name}.json")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelAction {
    Promote,
    Rollback,
}

impl fmt::Display for ChannelAction {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelAction::Promote => formatter.write_str("promote"),
            ChannelAction::Rollback => formatter.write_str("rollback"),
        }
    }
}

/// One move of a channel. `previous` is the version the channel pointed to before this move
/// (null only for the first promotion), so the history is a chain that can be checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelEvent {
    pub revision: u64,
    pub version: String,
    pub action: ChannelAction,
    pub previous: Option<String>,
    /// RFC 3339, UTC.
    pub at: String,
    #[serde(default)]
    pub by: Option<String>,
}

/// A channel as stored. Invariants (checked on every read, see [`Channel::check`]): `revision`
/// is the number of events and the last event's revision, revisions count 1, 2, 3... and
/// `version` is the last event's version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    pub format: String,
    pub channel: String,
    /// The version the channel points to now; null only for a channel with no history.
    pub version: Option<String>,
    pub revision: u64,
    /// RFC 3339, UTC: when the last event happened.
    pub updated_at: String,
    pub history: Vec<ChannelEvent>,
}

impl Channel {
    fn empty(name: &str) -> Channel {
        Channel {
            format: CHANNEL_FORMAT.to_string(),
            channel: name.to_string(),
            version: None,
            revision: 0,
            updated_at: String::new(),
            history: Vec::new(),
        }
    }

    /// The versions promotions have stacked up, oldest first: a promote pushes its version, a
    /// rollback pops the current one. The last element is the current version.
    pub fn promotion_stack(&self) -> Vec<&str> {
        let mut stack: Vec<&str> = Vec::new();
        for event in &self.history {
            match event.action {
                ChannelAction::Promote => stack.push(&event.version),
                ChannelAction::Rollback => {
                    stack.pop();
                }
            }
        }
        stack
    }

    /// Where a rollback goes: the version that was current before the most recent promotion
    /// not already rolled back. Repeated rollbacks walk back through earlier promotions; a
    /// rollback itself is never undone by another rollback (promote again instead).
    pub fn rollback_target(&self) -> Option<&str> {
        let stack = self.promotion_stack();
        if stack.len() < 2 {
            return None;
        }
        Some(stack[stack.len() - 2])
    }

    /// The channel after one more event: the next revision, chained to the current version.
    pub fn advanced(&self, action: ChannelAction, version: &str, by: Option<&str>, at: &str) -> Channel {
        let revision = self.revision + 1;
        let mut history = self.history.clone();
        history.push(ChannelEvent {
            revision,
            version: version.to_string(),
            action,
            previous: self.version.clone(),
            at: at.to_string(),
            by: by.map(str::to_string),
        });
        Channel {
            format: CHANNEL_FORMAT.to_string(),
            channel: self.channel.clone(),
            version: Some(version.to_string()),
            revision,
            updated_at: at.to_string(),
            history,
        }
    }

    /// Checks the stored object against the invariants; the reason names the first break.
    pub fn check(&self, expected_name: &str) -> Result<(), String> {
        if self.format != CHANNEL_FORMAT {
            return Err(format!("format is {:?}, expected {CHANNEL_FORMAT:?}", self.format));
        }
        if self.channel != expected_name {
            return Err(format!("names channel {:?}", self.channel));
        }
        if self.revision != self.history.len() as u64 {
            return Err(format!(
                "revision {} but {} history events",
                self.revision,
                self.history.len()
            ));
        }
        let last_version = self.history.last().map(|event| event.version.clone());
        if self.version != last_version {
            return Err(format!(
                "version {:?} but the last event moved it to {:?}",
                self.version, last_version
            ));
        }
        let mut stack: Vec<&str> = Vec::new();
        let mut before: Option<&str> = None;
        for (index, event) in self.history.iter().enumerate() {
            let expected_revision = index as u64 + 1;
            if event.revision != expected_revision {
                return Err(format!(
                    "history event {index} has revision {}, expected {expected_revision}",
                    event.revision
                ));
            }
            if event.previous.as_deref() != before {
                return Err(format!(
                    "revision {} says previous {:?} but the channel was at {before:?}",
                    event.revision, event.previous
                ));
            }
            validate_name("version", &event.version)
                .map_err(|reason| format!("revision {}: {reason}", event.revision))?;
            match event.action {
                ChannelAction::Promote => stack.push(&event.version),
                ChannelAction::Rollback => {
                    stack.pop();
                    if stack.last() != Some(&event.version.as_str()) {
                        return Err(format!(
                            "revision {} rolls back to {} but the promotion before was {:?}",
                            event.revision,
                            event.version,
                            stack.last()
                        ));
                    }
                }
            }
            before = Some(&event.version);
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("{reason}")]
    InvalidName { name: String, reason: String },
    #[error("{reason} (channel {channel} left unchanged)")]
    InvalidVersion {
        channel: String,
        version: String,
        reason: String,
    },
    #[error("no release {version} in {store} (no {key}): channel {channel} left unchanged")]
    UnknownVersion {
        channel: String,
        version: String,
        store: String,
        key: String,
    },
    #[error("no channel {channel} in {store}: promote a version to create it")]
    UnknownChannel { channel: String, store: String },
    #[error("channel {channel} in {store} already points to {version}: nothing changed")]
    AlreadyCurrent {
        channel: String,
        version: String,
        store: String,
    },
    #[error(
        "channel {channel} in {store} has nothing to roll back to: {} is its only promotion not already rolled back",
        version.as_deref().unwrap_or("none")
    )]
    NothingToRollBack {
        channel: String,
        version: Option<String>,
        store: String,
    },
    #[error(
        "channel {channel} in {store} moved: another promote or rollback changed it after this {action} of {version} \
         read revision {expected_revision}; re-read the channel and retry if still wanted"
    )]
    Moved {
        channel: String,
        /// The revision this call read and meant to replace (0: the channel did not exist yet).
        expected_revision: u64,
        action: ChannelAction,
        /// The version this call tried to move the channel to.
        version: String,
        store: String,
    },
    #[error("channel {channel} in {store} is corrupt ({key}): {reason}")]
    Corrupt {
        channel: String,
        store: String,
        key: String,
        reason: String,
    },
    #[error("store error on channel {channel} in {store}: {source}")]
    Store {
        channel: String,
        store: String,
        #[source]
        source: StoreError,
    },
}

impl ChannelError {
    /// Whether the same call may succeed later: after [`ChannelError::Moved`] a retry reads the
    /// new revision (the caller decides whether to override the other writer; this module never
    /// retries), and transient store errors.
    pub fn is_retryable(&self) -> bool {
        match self {
            ChannelError::Moved { .. } => true,
            ChannelError::Store { source, .. } => source.is_retryable(),
            _ => false,
        }
    }
}

fn store_error(store: &dyn ObjectStore, channel: &str, source: StoreError) -> ChannelError {
    ChannelError::Store {
        channel: channel.to_string(),
        store: store.describe(),
        source,
    }
}

fn check_channel_name(name: &str) -> Result<(), ChannelError> {
    validate_name("channel", name).map_err(|reason| ChannelError::InvalidName {
        name: name.to_string(),
        reason,
    })
}

/// How often a read retries when the channel changes between its head and its get.
const CONSISTENT_READ_ATTEMPTS: usize = 4;

/// Reads a channel and the etag of the object the content came from. The head comes first, so
/// the content is never older than the etag (a write that slipped in between makes the later
/// replace fail as [`ChannelError::Moved`] instead of being lost); a second head confirms the
/// pair so that a mover's expected revision is the one it really read.
async fn load_channel(store: &dyn ObjectStore, name: &str) -> Result<Option<(Channel, String)>, ChannelError> {
    let key = channel_key(name);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let Some(before) = store
            .head(&key)
            .await
            .map_err(|source| store_error(store, name, source))?
        else {
            return Ok(None);
        };
        let body = match store.get(&key).await {
            Ok(body) => body,
            // Channels are never deleted; one removed by hand since the head reads as absent, and
            // a create-if-absent then fails as moved if it came back.
            Err(StoreError::NotFound { .. }) => return Ok(None),
            Err(source) => return Err(store_error(store, name, source)),
        };
        let after = store
            .head(&key)
            .await
            .map_err(|source| store_error(store, name, source))?;
        let unchanged = after.as_ref().map(|meta| &meta.etag) == Some(&before.etag);
        if unchanged || attempt >= CONSISTENT_READ_ATTEMPTS {
            let channel = decode_channel(store, name, &key, &body)?;
            return Ok(Some((channel, before.etag)));
        }
    }
}

fn decode_channel(store: &dyn ObjectStore, name: &str, key: &str, body: &Bytes) -> Result<Channel, ChannelError> {
    let corrupt = |reason: String| ChannelError::Corrupt {
        channel: name.to_string(),
        store: store.describe(),
        key: key.to_string(),
        reason,
    };
    let channel: Channel = serde_json::from_slice(body).map_err(|error| corrupt(format!("invalid json: {error}")))?;
    channel.check(name).map_err(corrupt)?;
    Ok(channel)
}

/// A channel as stored, or `None` if nothing was ever promoted to it.
pub async fn read_channel(store: &dyn ObjectStore, name: &str) -> anyhow::Result<Option<Channel>> {
    check_channel_name(name)?;
    let loaded = load_channel(store, name).await?;
    Ok(loaded.map(|(channel, _etag)| channel))
}

/// Every channel in the store, sorted by name. A corrupt channel fails the listing, naming it.
pub async fn list_channels(store: &dyn ObjectStore) -> anyhow::Result<Vec<Channel>> {
    let objects = store.list(CHANNELS_PREFIX).await?;
    let mut channels = Vec::new();
    for object in objects {
        let Some(name) = object
            .key
            .strip_prefix(CHANNELS_PREFIX)
            .and_then(|rest| rest.strip_suffix(".json"))
        else {
            continue;
        };
        if name.contains('/') || validate_name("channel", name).is_err() {
            continue;
        }
        if let Some((channel, _etag)) = load_channel(store, name).await? {
            channels.push(channel);
        }
    }
    Ok(channels)
}

async fn require_release(store: &dyn ObjectStore, channel: &str, version: &str) -> Result<(), ChannelError> {
    let key = manifest_key(version);
    match store.head(&key).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(ChannelError::UnknownVersion {
            channel: channel.to_string(),
            version: version.to_string(),
            store: store.describe(),
            key,
        }),
        Err(source) => Err(store_error(store, channel, source)),
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A checked move of a channel, not yet written: the channel as read (and the etag it came
/// from) and the channel after the move. [`ChannelMove::commit`] writes it only if the channel
/// is still the one read. Splitting the two lets a caller show the move before making it, and
/// lets tests start many commits at the same instant after all of them have read.
#[derive(Debug, Clone)]
#[must_use = "a channel move does nothing until committed"]
pub struct ChannelMove {
    current: Channel,
    /// `None`: the channel did not exist when read, so the commit creates it if still absent.
    etag: Option<String>,
    next: Channel,
    action: ChannelAction,
}

impl ChannelMove {
    /// The channel as read (revision 0 and no version when it did not exist yet).
    pub fn current(&self) -> &Channel {
        &self.current
    }

    /// The channel as the commit will write it (its last event is stamped when prepared).
    pub fn next(&self) -> &Channel {
        &self.next
    }

    pub fn action(&self) -> ChannelAction {
        self.action
    }

    /// Writes the move by compare-and-swap against the revision read, on the store it was
    /// prepared from. If anything moved the channel since, nothing is written and the result is
    /// [`ChannelError::Moved`]; this never retries.
    pub async fn commit(self, store: &dyn ObjectStore) -> Result<Channel, ChannelError> {
        debug_assert_eq!(self.next.revision, self.current.revision + 1);
        debug_assert!(self.next.check(&self.current.channel).is_ok());
        let mode = match self.etag {
            Some(etag) => PutMode::ReplaceIfMatch(etag),
            None => PutMode::CreateIfAbsent,
        };
        let action = self.action;
        let version = self.next.version.clone().unwrap_or_default();
        match put_json(store, &channel_key(&self.current.channel), &self.next, mode).await {
            Ok(_) => {
                info!(
                    channel = %self.next.channel,
                    %version,
                    previous = self.current.version.as_deref().unwrap_or("none"),
                    revision = self.next.revision,
                    %action,
                    store = %store.describe(),
                    "channel moved"
                );
                Ok(self.next)
            }
            Err(StoreError::PreconditionFailed { .. }) => {
                info!(
                    channel = %self.current.channel,
                    %version,
                    expected_revision = self.current.revision,
                    %action,
                    store = %store.describe(),
                    "channel changed concurrently, not moved"
                );
                Err(ChannelError::Moved {
                    channel: self.current.channel,
                    expected_revision: self.current.revision,
                    action,
                    version,
                    store: store.describe(),
                })
            }
            Err(source) => Err(store_error(store, &self.current.channel, source)),
        }
    }
}

/// Checks and prepares pointing channel `name` at `version` (see [`promote`]); writes nothing.
pub async fn prepare_promote(
    store: &dyn ObjectStore,
    name: &str,
    version: &str,
    by: Option<&str>,
) -> Result<ChannelMove, ChannelError> {
    check_channel_name(name)?;
    validate_name("version", version).map_err(|reason| ChannelError::InvalidVersion {
        channel: name.to_string(),
        version: version.to_string(),
        reason,
    })?;
    require_release(store, name, version).await?;
    let (current, etag) = match load_channel(store, name).await? {
        Some((channel, etag)) => (channel, Some(etag)),
        None => (Channel::empty(name), None),
    };
    if current.version.as_deref() == Some(version) {
        return Err(ChannelError::AlreadyCurrent {
            channel: name.to_string(),
            version: version.to_string(),
            store: store.describe(),
        });
    }
    let next = current.advanced(ChannelAction::Promote, version, by, &now_rfc3339());
    Ok(ChannelMove {
        current,
        etag,
        next,
        action: ChannelAction::Promote,
    })
}

/// Points channel `name` at `version`, creating the channel on its first promotion, and returns
/// the channel as written.
///
/// The caller must have verified `version` first (`release verify`): this only checks that the
/// version exists (its manifest is present). Promoting the version the channel already points
/// to changes nothing and is [`ChannelError::AlreadyCurrent`]. If another promote or rollback
/// moves the channel between this call's read and its write, nothing is written and the result
/// is [`ChannelError::Moved`]; this function does not retry.
pub async fn promote(
    store: &dyn ObjectStore,
    name: &str,
    version: &str,
    by: Option<&str>,
) -> Result<Channel, ChannelError> {
    prepare_promote(store, name, version, by).await?.commit(store).await
}

/// Checks and prepares moving channel `name` back (see [`rollback`]); writes nothing.
pub async fn prepare_rollback(
    store: &dyn ObjectStore,
    name: &str,
    by: Option<&str>,
) -> Result<ChannelMove, ChannelError> {
    check_channel_name(name)?;
    let Some((current, etag)) = load_channel(store, name).await? else {
        return Err(ChannelError::UnknownChannel {
            channel: name.to_string(),
            store: store.describe(),
        });
    };
    let Some(target) = current.rollback_target().map(str::to_string) else {
        return Err(ChannelError::NothingToRollBack {
            channel: name.to_string(),
            version: current.version.clone(),
            store: store.describe(),
        });
    };
    require_release(store, name, &target).await?;
    let next = current.advanced(ChannelAction::Rollback, &target, by, &now_rfc3339());
    Ok(ChannelMove {
        current,
        etag: Some(etag),
        next,
        action: ChannelAction::Rollback,
    })
}

/// Moves channel `name` back to [`Channel::rollback_target`]: the version current before its most
/// recent promotion not already rolled back, and returns the channel as written. That version
/// was verified when it was promoted and releases are immutable, so only its existence is
/// checked again. Same compare-and-swap and [`ChannelError::Moved`] as [`promote`].
pub async fn rollback(store: &dyn ObjectStore, name: &str, by: Option<&str>) -> Result<Channel, ChannelError> {
    prepare_rollback(store, name, by).await?.commit(store).await
}

#[cfg(test)]
#[path = "channels_tests.rs"]
mod tests;
