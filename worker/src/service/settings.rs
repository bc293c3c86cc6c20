//! `worker run` settings, layered with the `config` crate: defaults, then a TOML file
//! (`--config FILE`), then `WILDCHAT__<KEY>` environment variables, then flags. Secrets (the IP
//! salt, Redis passwords inside the queue URL) come from the file or the environment; the only
//! salt flag names a file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;

/// Every key a settings file may hold; anything else in a file is a mistake worth an error.
pub const KEYS: &[&str] = &[
    "store",
    "queue",
    "run",
    "name",
    "slots",
    "listen",
    "log",
    "log_format",
    "ip_salt_file",
    "ip_salt",
    "geoip",
    "toxicity_config",
    "toxicity_device",
    "pii_ner_config",
    "moderation_config",
    "capabilities",
    "lease_timeout_ms",
    "heartbeat_ms",
    "max_attempts",
    "idle_poll_ms",
    "discover_ms",
    "queue_stats_ms",
];

#[derive(Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct WorkerSettings {
    /// Store URI: a directory, `file:///path` or `s3://bucket/prefix`.
    pub store: String,
    /// Queue URI: `redis://[user:password@]host:port[/db]`.
    pub queue: String,
    /// Serve only this run; empty = every run coordinators announce.
    pub run: String,
    /// Consumer name in the queue; empty = `<hostname>-<pid>`.
    pub name: String,
    /// Jobs run at once by this process (each slot is one job loop).
    pub slots: usize,
    /// `HOST:PORT` of the `/healthz` and `/metrics` endpoint; empty = off.
    pub listen: String,
    /// Log filter in tracing syntax (`info`, `worker=debug`).
    pub log: String,
    /// `json` (one object per line) or `text`.
    pub log_format: String,
    pub ip_salt_file: Option<PathBuf>,
    /// The salt's hex; meant for `WILDCHAT__IP_SALT` only.
    pub ip_salt: Option<String>,
    /// GeoIP databases (`PATH` or `PATH@YYYY-MM-DD`); a list, or one comma-separated string.
    #[serde(deserialize_with = "string_or_list")]
    pub geoip: Vec<String>,
    /// Toxicity model config (TOML); unset = the embedded default linear model.
    pub toxicity_config: Option<PathBuf>,
    /// `cpu`, `cuda` or `cuda:N`; CUDA that cannot be registered fails the start.
    pub toxicity_device: String,
    /// Optional PII token-classification model config (TOML); unset = rule recognizers only.
    pub pii_ner_config: Option<PathBuf>,
    /// Moderation source config (TOML, `kind = "openai"`); unset = no moderation source. The API
    /// key comes from the variable or file the config names, never from this file or a flag.
    pub moderation_config: Option<PathBuf>,
    /// What this worker offers: `cpu` serves map, analyse and finalise queues, `gpu` the analyse
    /// queues of runs whose toxicity model needs a GPU (`coordinator run --analyse-on gpu`).
    #[serde(deserialize_with = "string_or_list")]
    pub capabilities: Vec<String>,
    /// A lease not refreshed for this long is reclaimed by another worker.
    pub lease_timeout_ms: u64,
    /// Heartbeat period while a job runs; 0 = a quarter of the lease timeout.
    pub heartbeat_ms: u64,
    /// Attempts per job before it is dead-lettered.
    pub max_attempts: u32,
    /// Pause between polls of empty queues.
    pub idle_poll_ms: u64,
    /// How often the announced runs are re-read.
    pub discover_ms: u64,
    /// How often queue depths are sampled for `/metrics`.
    pub queue_stats_ms: u64,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            store: String::new(),
            queue: String::new(),
            run: String::new(),
            name: String::new(),
            slots: 1,
            listen: String::new(),
            log: "info".to_string(),
            log_format: "json".to_string(),
            ip_salt_file: None,
            ip_salt: None,
            geoip: Vec::new(),
            toxicity_config: None,
            pii_ner_config: None,
            moderation_config: None,
            capabilities: vec!["cpu".to_string()],
            toxicity_device: "cpu".to_string(),
            lease_timeout_ms: 120_000,
            heartbeat_ms: 0,
            max_attempts: 4,
            idle_poll_ms: 500,
            discover_ms: 2_000,
            queue_stats_ms: 5_000,
        }
    }
}

/// The salt never reaches a log line, not even through a debug print of the settings.
impl std::fmt::Debug for WorkerSettings {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("WorkerSettings")
            .field("store", &self.store)
            .field("queue", &queue::redis_queue::redact_url(&self.queue))
            .field("run", &self.run)
            .field("name", &self.name)
            .field("slots", &self.slots)
            .field("listen", &self.listen)
            .field("log", &self.log)
            .field("log_format", &self.log_format)
            .field("ip_salt_file", &self.ip_salt_file)
            .field("ip_salt", &self.ip_salt.as_ref().map(|_| "<redacted>"))
            .field("geoip", &self.geoip)
            .field("toxicity_config", &self.toxicity_config)
            .field("moderation_config", &self.moderation_config)
            .field("pii_ner_config", &self.pii_ner_config)
            .field("capabilities", &self.capabilities)
            .field("toxicity_device", &self.toxicity_device)
            .field("lease_timeout_ms", &self.lease_timeout_ms)
            .field("heartbeat_ms", &self.heartbeat_ms)
            .field("max_attempts", &self.max_attempts)
            .field("idle_poll_ms", &self.idle_poll_ms)
            .field("discover_ms", &self.discover_ms)
            .field("queue_stats_ms", &self.queue_stats_ms)
            .finish()
    }
}

fn string_or_list<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum StringOrList {
        One(String),
        Many(Vec<String>),
    }
    Ok(match StringOrList::deserialize(deserializer)? {
        StringOrList::One(joined) => joined
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(str::to_string)
            .collect(),
        StringOrList::Many(list) => list,
    })
}

/// Values given as flags; they override everything else.
#[derive(Debug, Clone, Default)]
pub struct FlagOverrides {
    pub values: Vec<(&'static str, String)>,
    pub geoip: Vec<String>,
}

impl FlagOverrides {
    pub fn set(&mut self, key: &'static str, value: Option<impl ToString>) {
        if let Some(value) = value {
            self.values.push((key, value.to_string()));
        }
    }
}

/// Reads the layers: defaults, `file`, `WILDCHAT__*` from `environment`, then `flags`.
pub fn load_settings(
    file: Option<&Path>,
    environment: impl IntoIterator<Item = (String, String)>,
    flags: &FlagOverrides,
) -> anyhow::Result<WorkerSettings> {
    let settings = read_settings(file, environment, flags)?;
    settings.validate()?;
    Ok(settings)
}

/// The same layers as [`load_settings`] without the checks that only `worker run` needs (a
/// store and a shared queue): `worker stage geo --config FILE` reads its keys this way.
pub fn read_settings(
    file: Option<&Path>,
    environment: impl IntoIterator<Item = (String, String)>,
    flags: &FlagOverrides,
) -> anyhow::Result<WorkerSettings> {
    let mut builder = config::Config::builder();
    if let Some(path) = file {
        check_file_keys(path)?;
        builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml).required(true));
    }
    let environment: config::Map<String, String> = environment.into_iter().collect();
    builder = builder.add_source(
        config::Environment::with_prefix("WILDCHAT")
            .separator("__")
            .source(Some(environment)),
    );
    for (key, value) in &flags.values {
        builder = builder
            .set_override(*key, value.clone())
            .with_context(|| format!("setting {key} from its flag"))?;
    }
    if !flags.geoip.is_empty() {
        builder = builder
            .set_override("geoip", flags.geoip.clone())
            .context("setting geoip from --geoip")?;
    }
    builder
        .build()
        .context("reading the worker settings")?
        .try_deserialize()
        .context("reading the worker settings")
}

/// A misspelt key in a file would otherwise be ignored silently.
fn check_file_keys(path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
    let table: toml_table::Table =
        toml_table::from_str(&text).with_context(|| format!("config file {} is not valid toml", path.display()))?;
    for key in table.keys() {
        if !KEYS.contains(&key.as_str()) {
            bail!(
                "config file {} has unknown key {key:?}; known keys: {}",
                path.display(),
                KEYS.join(", ")
            );
        }
    }
    Ok(())
}

/// The TOML file read as a flat table of keys, through the `config` crate's own parser.
mod toml_table {
    pub type Table = std::collections::BTreeMap<String, config::Value>;

    pub fn from_str(text: &str) -> Result<Table, config::ConfigError> {
        config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()?
            .try_deserialize::<Table>()
    }
}

impl WorkerSettings {
    fn validate(&self) -> anyhow::Result<()> {
        if self.store.trim().is_empty() {
            bail!("worker run needs a store: --store URI, WILDCHAT__STORE or `store` in the config file");
        }
        let queue = self.queue.trim();
        if queue.is_empty() || queue == "memory" || queue == "embedded" {
            bail!(
                "worker run needs a shared queue (redis://host:port): --queue URI, WILDCHAT__QUEUE or `queue` in the config file; the in-process queue only serves the coordinator's embedded workers"
            );
        }
        if self.slots == 0 || self.slots > 256 {
            bail!("slots must be between 1 and 256, not {}", self.slots);
        }
        if self.max_attempts == 0 {
            bail!("max_attempts must be at least 1");
        }
        if self.lease_timeout_ms < 100 {
            bail!("lease_timeout_ms must be at least 100, not {}", self.lease_timeout_ms);
        }
        if self.heartbeat_ms >= self.lease_timeout_ms {
            bail!(
                "heartbeat_ms ({}) must be shorter than lease_timeout_ms ({}) or the lease expires between beats",
                self.heartbeat_ms,
                self.lease_timeout_ms
            );
        }
        if !matches!(self.log_format.as_str(), "json" | "text") {
            bail!("log_format must be json or text, not {:?}", self.log_format);
        }
        if let Err(reason) = self.toxicity_device.parse::<toxicity::Device>() {
            bail!("toxicity_device: {reason}");
        }
        if !self.run.is_empty() {
            shared::jobs::validate_name("run id", &self.run).map_err(anyhow::Error::msg)?;
        }
        Ok(())
    }

    pub fn lease_timeout(&self) -> Duration {
        Duration::from_millis(self.lease_timeout_ms)
    }

    pub fn heartbeat_interval(&self) -> Duration {
        if self.heartbeat_ms == 0 {
            Duration::from_millis((self.lease_timeout_ms / 4).max(25))
        } else {
            Duration::from_millis(self.heartbeat_ms)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn layers_apply_in_order_defaults_file_environment_flags() {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("worker.toml");
        std::fs::write(
            &file,
            "store = \"s3://from-file/p\"\nqueue = \"redis://file:6379\"\nslots = 3\nlease_timeout_ms = 9000\ngeoip = [\"a.mmdb@2020-01-01\"]\n",
        )
        .unwrap();
        let from_file = load_settings(Some(&file), env(&[]), &FlagOverrides::default()).unwrap();
        assert_eq!(from_file.store, "s3://from-file/p");
        assert_eq!(from_file.slots, 3);
        assert_eq!(from_file.max_attempts, 4, "defaults fill the rest");
        assert_eq!(from_file.geoip, vec!["a.mmdb@2020-01-01"]);
        assert_eq!(from_file.heartbeat_interval(), Duration::from_millis(2250));

        let environment = env(&[
            ("WILDCHAT__QUEUE", "redis://env:6379"),
            ("WILDCHAT__SLOTS", "2"),
            ("WILDCHAT__GEOIP", "b.mmdb, c.mmdb"),
            ("WILDCHAT__IP_SALT", "0012"),
            ("WILDCHAT__PARTITIONS", "9"),
            ("OTHER", "x"),
        ]);
        let mut flags = FlagOverrides::default();
        flags.set("slots", Some(5));
        let layered = load_settings(Some(&file), environment, &flags).unwrap();
        assert_eq!(layered.store, "s3://from-file/p");
        assert_eq!(layered.queue, "redis://env:6379");
        assert_eq!(layered.slots, 5, "a flag beats the environment");
        assert_eq!(layered.geoip, vec!["b.mmdb", "c.mmdb"]);
        assert_eq!(layered.ip_salt.as_deref(), Some("0012"), "hex keeps its leading zeros");
        assert!(!format!("{layered:?}").contains("0012"), "debug output hides the salt");
    }

    #[test]
    fn mistakes_are_named() {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("worker.toml");
        std::fs::write(&file, "store = \"d\"\nqueue = \"redis://h:1\"\nlease_timeout = 5\n").unwrap();
        let error = load_settings(Some(&file), env(&[]), &FlagOverrides::default()).unwrap_err();
        assert!(
            format!("{error:#}").contains("unknown key \"lease_timeout\""),
            "{error:#}"
        );

        let error = load_settings(None, env(&[("WILDCHAT__STORE", "d")]), &FlagOverrides::default()).unwrap_err();
        assert!(format!("{error:#}").contains("needs a shared queue"), "{error:#}");

        let environment = env(&[
            ("WILDCHAT__STORE", "d"),
            ("WILDCHAT__QUEUE", "redis://h:1"),
            ("WILDCHAT__SLOTS", "many"),
        ]);
        let error = load_settings(None, environment, &FlagOverrides::default()).unwrap_err();
        assert!(format!("{error:#}").contains("slots"), "{error:#}");

        let environment = env(&[
            ("WILDCHAT__STORE", "d"),
            ("WILDCHAT__QUEUE", "redis://h:1"),
            ("WILDCHAT__LEASE_TIMEOUT_MS", "1000"),
            ("WILDCHAT__HEARTBEAT_MS", "1000"),
        ]);
        let error = load_settings(None, environment, &FlagOverrides::default()).unwrap_err();
        assert!(format!("{error:#}").contains("heartbeat_ms"), "{error:#}");
    }
}
