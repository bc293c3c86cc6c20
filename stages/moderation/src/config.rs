//! The moderation settings: a TOML file, or none (no moderation source, `openai_moderation`
//! null). The API key never sits in the file or a flag: the file names the environment
//! variable or the secret file that holds it.
//!
//! ```toml
//! kind = "openai"                          # or "none"
//! base_url = "https://api.openai.com/v1"   # POSTs to {base_url}/moderations
//! model = "omni-moderation-latest"
//! api_key_env = "OPENAI_API_KEY"           # the variable holding the key (the default)
//! # api_key_file = "/run/secrets/openai"   # or a file holding it (wins over api_key_env)
//! batch_size = 32                          # texts per request
//! concurrency = 4                          # requests in flight per worker process
//! requests_per_minute = 500                # request starts per minute per worker process
//! max_attempts = 6                         # per request, the first included
//! timeout_ms = 60000                       # per attempt
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Why a moderation source cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the moderation config {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("moderation config {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("no moderation api key: {0}")]
    MissingKey(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    None,
    Openai,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    kind: Kind,
    base_url: Option<String>,
    model: Option<String>,
    api_key_env: Option<String>,
    api_key_file: Option<PathBuf>,
    batch_size: Option<usize>,
    concurrency: Option<usize>,
    requests_per_minute: Option<u32>,
    max_attempts: Option<u32>,
    timeout_ms: Option<u64>,
}

/// An OpenAI-compatible moderation endpoint and how hard the client may use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModerationConfig {
    /// Without the trailing `/moderations`.
    pub base_url: String,
    pub model: String,
    pub api_key_env: String,
    /// Relative paths are resolved against the config file's directory.
    pub api_key_file: Option<PathBuf>,
    pub batch_size: usize,
    pub concurrency: usize,
    pub requests_per_minute: u32,
    pub max_attempts: u32,
    pub timeout: Duration,
}

/// Where moderation answers come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ModerationSource {
    /// No moderation: `openai_moderation` is null and only toxicity flags turns.
    #[default]
    None,
    OpenAi(ModerationConfig),
}

/// The default endpoint of the `openai` kind.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_MODEL: &str = "omni-moderation-latest";
pub const DEFAULT_KEY_ENV: &str = "OPENAI_API_KEY";

impl ModerationSource {
    /// Reads a config file (`kind = "none"` or `kind = "openai"` with its settings).
    pub fn from_file(path: &Path) -> Result<ModerationSource, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |reason: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let file: FileConfig = toml::from_str(&text).map_err(|error| invalid(error.to_string()))?;
        if file.kind == Kind::None {
            return Ok(ModerationSource::None);
        }
        let base_url = file
            .base_url
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string())
            .trim_end_matches('/')
            .to_string();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(invalid(format!("base_url {base_url:?} is not an http(s) URL")));
        }
        let positive = |name: &str, value: Option<u64>, default: u64| match value {
            Some(0) => Err(invalid(format!("{name} must be at least 1"))),
            Some(value) => Ok(value),
            None => Ok(default),
        };
        let batch_size = positive("batch_size", file.batch_size.map(|value| value as u64), 32)? as usize;
        let api_key_file = file.api_key_file.map(|key_path| match path.parent() {
            Some(directory) if key_path.is_relative() => directory.join(key_path),
            _ => key_path,
        });
        Ok(ModerationSource::OpenAi(ModerationConfig {
            base_url,
            model: file.model.unwrap_or_else(|| DEFAULT_MODEL.to_string()),
            api_key_env: file.api_key_env.unwrap_or_else(|| DEFAULT_KEY_ENV.to_string()),
            api_key_file,
            batch_size,
            concurrency: positive("concurrency", file.concurrency.map(|value| value as u64), 4)? as usize,
            requests_per_minute: positive("requests_per_minute", file.requests_per_minute.map(u64::from), 500)? as u32,
            max_attempts: positive("max_attempts", file.max_attempts.map(u64::from), 6)? as u32,
            timeout: Duration::from_millis(positive("timeout_ms", file.timeout_ms, 60_000)?),
        }))
    }

    /// The source's id in the run fingerprint, the manifest and the card: `none`, or
    /// `openai:MODEL@BASE_URL` (no secret in it).
    pub fn id(&self) -> String {
        match self {
            ModerationSource::None => "none".to_string(),
            ModerationSource::OpenAi(config) => config.id(),
        }
    }
}

impl ModerationConfig {
    /// `openai:MODEL@BASE_URL`, the source's id (see [`ModerationSource::id`]).
    pub fn id(&self) -> String {
        format!("openai:{}@{}", self.model, self.base_url)
    }

    /// The API key: the file's content when `api_key_file` is set, else the variable
    /// `api_key_env`. Surrounding whitespace is dropped.
    pub fn api_key(&self) -> Result<String, ConfigError> {
        let key = match &self.api_key_file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|error| ConfigError::MissingKey(format!("cannot read {}: {error}", path.display())))?,
            None => std::env::var(&self.api_key_env).map_err(|_| {
                ConfigError::MissingKey(format!(
                    "set {} or name a key file with api_key_file in the moderation config",
                    self.api_key_env
                ))
            })?,
        };
        let key = key.trim().to_string();
        if key.is_empty() {
            return Err(ConfigError::MissingKey("the configured api key is empty".to_string()));
        }
        Ok(key)
    }

    /// The pause between two request starts that keeps within `requests_per_minute`.
    pub fn request_interval(&self) -> Duration {
        Duration::from_secs(60) / self.requests_per_minute.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("moderation.toml");
        std::fs::write(&path, text).unwrap();
        (directory, path)
    }

    #[test]
    fn an_openai_config_takes_defaults_and_resolves_the_key_file_next_to_it() {
        let (directory, path) = write("kind = \"openai\"\napi_key_file = \"key.txt\"\n");
        std::fs::write(directory.path().join("key.txt"), "  sk-test\n").unwrap();
        let ModerationSource::OpenAi(config) = ModerationSource::from_file(&path).unwrap() else {
            panic!("openai expected");
        };
        assert_eq!(config.base_url, DEFAULT_BASE_URL);
        assert_eq!(config.model, DEFAULT_MODEL);
        assert_eq!(config.api_key().unwrap(), "sk-test");
        assert_eq!(config.request_interval(), Duration::from_millis(120));
        assert_eq!(
            ModerationSource::OpenAi(config).id(),
            "openai:omni-moderation-latest@https://api.openai.com/v1"
        );
    }

    #[test]
    fn bad_configs_say_what_is_wrong() {
        let (_directory, path) = write("kind = \"openai\"\nbatch_size = 0\n");
        assert!(ModerationSource::from_file(&path)
            .unwrap_err()
            .to_string()
            .contains("batch_size must be at least 1"));
        let (_directory, path) = write("kind = \"openai\"\nbase_url = \"ftp://x\"\n");
        assert!(ModerationSource::from_file(&path)
            .unwrap_err()
            .to_string()
            .contains("not an http(s) URL"));
        let (_directory, path) = write("kind = \"openai\"\napi_key = \"sk-inline\"\n");
        assert!(ModerationSource::from_file(&path)
            .unwrap_err()
            .to_string()
            .contains("unknown field"));
        let (_directory, path) = write("kind = \"openai\"\napi_key_env = \"WILDCHAT_TEST_NO_SUCH_KEY\"\n");
        let ModerationSource::OpenAi(config) = ModerationSource::from_file(&path).unwrap() else {
            panic!("openai expected");
        };
        assert!(config
            .api_key()
            .unwrap_err()
            .to_string()
            .contains("WILDCHAT_TEST_NO_SUCH_KEY"));
        let (_directory, path) = write("kind = \"none\"\n");
        assert_eq!(ModerationSource::from_file(&path).unwrap().id(), "none");
    }
}
