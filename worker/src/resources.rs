//! Loading a worker's enrichment resources from its own configuration: the IP salt (a file
//! or `WILDCHAT__IP_SALT`, never a flag value or a job payload), the dated GeoIP databases and
//! the language and toxicity models and the moderation source. The coordinator's embedded workers and `worker run` load them here, so
//! both fail at start-up, not mid-run, on a missing or corrupt resource.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};

use crate::enrich::Enrichment;
use geoip::{GeoDatabaseSpec, GeoResolver};
use ip_hash::IpSalt;
use language::LanguageDetector;
use moderation::{ModerationClient, ModerationSource};
use shared::fingerprint::{GeoDatabaseFingerprint, ResourceFingerprint, ToxicityFingerprint, ToxicityRoute};
use toxicity::{Device, ModelConfig, ToxicityModel};

/// The environment variable that may hold the salt's hex itself.
pub const SALT_ENV: &str = "WILDCHAT__IP_SALT";

/// What configuration says about the resources.
#[derive(Debug, Clone, Default)]
pub struct EnrichmentSettings {
    /// File holding the salt as hex; wins over `salt_hex`.
    pub salt_file: Option<PathBuf>,
    /// The salt's hex (from `WILDCHAT__IP_SALT`).
    pub salt_hex: Option<String>,
    /// `PATH` or `PATH@YYYY-MM-DD`; empty = every `*.mmdb` in [`default_geoip_directory`].
    pub geoip: Vec<String>,
    /// Toxicity model config (TOML); None = the embedded default linear model.
    pub toxicity_config: Option<PathBuf>,
    /// Where toxicity inference runs.
    pub toxicity_device: Device,
    /// Optional PII token-classification model config (TOML, see stages/pii/README.md); it runs on
    /// `toxicity_device`.
    pub pii_ner_config: Option<PathBuf>,
    /// Moderation source config (TOML, `kind = "openai"`, see stages/moderation); None = no
    /// moderation source.
    pub moderation_config: Option<PathBuf>,
}

impl EnrichmentSettings {
    /// Settings with the salt hex read from `WILDCHAT__IP_SALT` when it is set.
    pub fn from_env(salt_file: Option<PathBuf>, geoip: Vec<String>) -> EnrichmentSettings {
        EnrichmentSettings {
            salt_file,
            salt_hex: std::env::var(SALT_ENV).ok().filter(|hex| !hex.trim().is_empty()),
            geoip,
            ..EnrichmentSettings::default()
        }
    }

    pub fn with_toxicity(mut self, config: Option<PathBuf>, device: Device) -> EnrichmentSettings {
        self.toxicity_config = config;
        self.toxicity_device = device;
        self
    }

    pub fn with_pii_ner(mut self, config: Option<PathBuf>) -> EnrichmentSettings {
        self.pii_ner_config = config;
        self
    }

    pub fn with_moderation(mut self, config: Option<PathBuf>) -> EnrichmentSettings {
        self.moderation_config = config;
        self
    }

    /// The configured moderation source (none without a config file).
    pub fn moderation_source(&self) -> anyhow::Result<ModerationSource> {
        match &self.moderation_config {
            Some(path) => Ok(ModerationSource::from_file(path)?),
            None => Ok(ModerationSource::None),
        }
    }
}

/// Loads the toxicity model the settings name (the embedded default without a config).
pub fn load_toxicity(settings: &EnrichmentSettings) -> anyhow::Result<Arc<dyn ToxicityModel>> {
    let config = match &settings.toxicity_config {
        Some(path) => ModelConfig::from_file(path)?,
        None => ModelConfig::default(),
    };
    let model = toxicity::load(&config, settings.toxicity_device).context("loading the toxicity model")?;
    tracing::info!(model = %model.describe(), "toxicity model loaded");
    Ok(model)
}

/// What to do without a configured salt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaltPolicy {
    /// Refuse to start: workers that hash IPs.
    Required,
    /// Draw a random one (the demo) and say so.
    RandomIfMissing,
    /// Load none: a coordinator whose jobs run in other processes.
    NotNeeded,
}

/// Where `infra/dev/setup.sh` installs the default GeoIP database.
pub fn default_geoip_directory() -> Option<PathBuf> {
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))?;
    Some(data_home.join("wildchat/geoip"))
}

fn load_salt(settings: &EnrichmentSettings, policy: SaltPolicy) -> anyhow::Result<Option<IpSalt>> {
    if policy == SaltPolicy::NotNeeded {
        return Ok(None);
    }
    if let Some(path) = &settings.salt_file {
        return Ok(Some(IpSalt::from_file(path).context("loading the ip salt")?));
    }
    if let Some(hex) = &settings.salt_hex {
        return Ok(Some(IpSalt::from_hex(hex).context("reading WILDCHAT__IP_SALT")?));
    }
    if policy == SaltPolicy::RandomIfMissing {
        eprintln!("demo: using a random ip salt for this run (hashed_ip values are not comparable across runs)");
        return Ok(Some(IpSalt::random()));
    }
    bail!("an ip salt is required: pass --salt-file FILE (hex) or set WILDCHAT__IP_SALT; it is never written anywhere")
}

fn geoip_specs(settings: &EnrichmentSettings) -> Vec<String> {
    if !settings.geoip.is_empty() {
        return settings.geoip.clone();
    }
    let Some(directory) = default_geoip_directory() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(&directory) else {
        return Vec::new();
    };
    let mut found: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "mmdb"))
        .map(|path| path.display().to_string())
        .collect();
    found.sort();
    found
}

/// Loads the salt, the GeoIP databases and (when asked) the language and toxicity models.
/// Returns the enrichment and the databases as `name@date` for the manifest.
pub fn load_enrichment(
    settings: &EnrichmentSettings,
    salt_policy: SaltPolicy,
    with_models: bool,
) -> anyhow::Result<(Enrichment, Vec<String>)> {
    let salt = load_salt(settings, salt_policy)?;
    let specs = geoip_specs(settings);
    let geo = if specs.is_empty() {
        eprintln!(
            "warning: no geoip database configured (--geoip, or run infra/dev/setup.sh): country and state will be null"
        );
        None
    } else {
        let parsed = specs
            .iter()
            .map(|spec| GeoDatabaseSpec::parse(spec))
            .collect::<Result<Vec<_>, _>>()
            .context("reading --geoip")?;
        Some(GeoResolver::open(&parsed).context("opening the geoip databases")?)
    };
    let described = geo
        .as_ref()
        .map(|resolver| {
            resolver
                .describe()
                .into_iter()
                .map(|(name, date)| format!("{name}@{date}"))
                .collect()
        })
        .unwrap_or_default();
    let language = if with_models {
        Some(Arc::new(
            LanguageDetector::load().context("loading the language models")?,
        ))
    } else {
        None
    };
    let toxicity = if with_models {
        Some(load_toxicity(settings)?)
    } else {
        None
    };
    let pii_ner = match (&settings.pii_ner_config, with_models) {
        (Some(path), true) => {
            let config = pii::ner::NerConfig::from_toml_file(path)
                .with_context(|| format!("reading the pii ner config {}", path.display()))?;
            let model = pii::ner::NerModel::load(&config, settings.toxicity_device)
                .with_context(|| format!("loading the pii ner model of {}", path.display()))?;
            tracing::info!(model = %model.describe(), "pii ner model loaded");
            Some(Arc::new(model))
        }
        _ => None,
    };
    let moderation = match (settings.moderation_source()?, with_models) {
        (ModerationSource::OpenAi(config), true) => {
            let client = ModerationClient::new(config).context("setting up the moderation source")?;
            tracing::info!(source = %client.source_id(), "moderation source ready");
            Some(Arc::new(client))
        }
        _ => None,
    };
    Ok((
        Enrichment {
            salt,
            geo,
            language,
            toxicity,
            pii_ner,
            moderation,
        },
        described,
    ))
}

/// A routed toxicity model's routes for the fingerprint, the fallback last; none for others.
fn toxicity_routes(config: &ModelConfig) -> anyhow::Result<Vec<ToxicityRoute>> {
    let Some(routing) = &config.routing else {
        return Ok(Vec::new());
    };
    let route = |languages: Vec<String>, route: &ModelConfig| -> anyhow::Result<ToxicityRoute> {
        Ok(ToxicityRoute {
            languages,
            model: toxicity::model_id(route).context("identifying a routed toxicity model")?,
            threshold: route.toxic_threshold,
            trained_on: route.languages.clone(),
        })
    };
    let mut routes = routing
        .routes
        .iter()
        .map(|(languages, config)| route(languages.clone(), config))
        .collect::<anyhow::Result<Vec<_>>>()?;
    routes.push(route(Vec::new(), &routing.fallback)?);
    Ok(routes)
}

/// The model's quality figures when they were measured for this very model; figures of another
/// model (a quality file left from before the model changed) are left out, with a warning.
fn measured_quality(config: &ModelConfig, model_id: &str) -> Option<shared::fingerprint::ModelQuality> {
    let quality = config.quality.as_ref()?;
    if quality.model != model_id {
        tracing::warn!(
            measured = %quality.model,
            model = %model_id,
            "the toxicity model's quality file measured another model; the card leaves its figures out (rerun make quality-toxicity)"
        );
        return None;
    }
    Some(quality.clone())
}

/// What these settings and the resources loaded from them contribute to a run's fingerprint:
/// the salt's key id, the GeoIP databases with their digests, the toxicity and PII models' ids
/// (computed from their files, so a coordinator need not load them), the language detector and
/// the code version. The coordinator records it in the plan; each worker compares its own.
pub fn resource_fingerprint(
    settings: &EnrichmentSettings,
    salt: &IpSalt,
    geo: Option<&GeoResolver>,
) -> anyhow::Result<ResourceFingerprint> {
    let toxicity_config = match &settings.toxicity_config {
        Some(path) => ModelConfig::from_file(path)?,
        None => ModelConfig::default(),
    };
    let toxicity_model = toxicity::model_id(&toxicity_config).context("identifying the toxicity model")?;
    let pii_ner = match &settings.pii_ner_config {
        Some(path) => Some(
            pii::ner::NerConfig::from_toml_file(path)
                .and_then(|config| config.model_id())
                .with_context(|| format!("identifying the pii ner model of {}", path.display()))?,
        ),
        None => None,
    };
    let geoip = geo
        .map(|resolver| {
            resolver
                .fingerprints()
                .into_iter()
                .map(|(name, date, sha256)| GeoDatabaseFingerprint {
                    name,
                    date: date.to_string(),
                    sha256,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ResourceFingerprint {
        salt_key_id: salt.key_id(),
        geoip,
        toxicity: ToxicityFingerprint {
            quality: measured_quality(&toxicity_config, &toxicity_model),
            model: toxicity_model,
            threshold: toxicity_config.toxic_threshold,
            routes: toxicity_routes(&toxicity_config)?,
            trained_on: toxicity_config.languages.clone(),
        },
        moderation: settings.moderation_source()?.id(),
        pii_ner,
        language_detector: language::DETECTOR_VERSION.to_string(),
        code_version: build_info::code_version(),
    })
}
