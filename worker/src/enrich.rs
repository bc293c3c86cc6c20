//! Per-worker enrichment resources: the IP salt, the GeoIP databases, the language models,
//! the toxicity model and the moderation source.
//! They come from the worker's own configuration (never from a job payload or the store), are
//! loaded once and shared by every job the worker runs.

use std::sync::Arc;

use geoip::{GeoAnswer, GeoResolver};
use ip_hash::IpSalt;
use language::LanguageDetector;
use moderation::ModerationClient;
use toxicity::ToxicityModel;

#[derive(Default)]
pub struct Enrichment {
    /// None leaves `hashed_ip` null (only tests and tools run without a salt).
    pub salt: Option<IpSalt>,
    /// None leaves `country` and `state` null.
    pub geo: Option<GeoResolver>,
    /// None leaves `language` null (only tests and tools run without it).
    pub language: Option<Arc<LanguageDetector>>,
    /// None leaves `detoxify_moderation` and `toxic` null.
    pub toxicity: Option<Arc<dyn ToxicityModel>>,
    /// An optional token-classification model whose PERSON/LOCATION/NRP spans join the rule
    /// recognizers' in PII detection; None detects by rules only.
    pub pii_ner: Option<Arc<pii::ner::NerModel>>,
    /// The moderation endpoint's client; None = no moderation source (`openai_moderation` null).
    pub moderation: Option<Arc<ModerationClient>>,
}

impl std::fmt::Debug for Enrichment {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Enrichment")
            .field("salt", &self.salt.as_ref().map(|_| "<redacted>"))
            .field("geo", &self.geo.as_ref().map(GeoResolver::describe))
            .field("language", &self.language.is_some())
            .field("toxicity", &self.toxicity.as_ref().map(|model| model.describe()))
            .field("pii_ner", &self.pii_ner.as_ref().map(|model| model.describe()))
            .field("moderation", &self.moderation.as_ref().map(|client| client.source_id()))
            .finish()
    }
}

impl Enrichment {
    pub fn hash_ip(&self, ip: &str) -> Option<String> {
        self.salt.as_ref().map(|salt| salt.hash_ip(ip))
    }

    /// Country and most specific subdivision of `ip` in the database dated for `timestamp_us`.
    /// Where `ip` was at `timestamp_us`; a database error answers unknown and comes back as
    /// the error, for the caller to count.
    pub fn locate(&self, ip: &str, timestamp_us: i64) -> Result<GeoAnswer, geoip::LookupError> {
        match &self.geo {
            Some(resolver) => resolver.try_lookup(ip, timestamp_us),
            None => Ok(GeoAnswer::default()),
        }
    }
}
