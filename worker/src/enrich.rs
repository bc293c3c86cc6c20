//! Per-worker enrichment resources: the IP salt and the GeoIP databases. They come from the
//! worker's own configuration (never from a job payload or the store), are loaded once and
//! shared by every job the worker runs.

use crate::geo::{GeoAnswer, GeoResolver, IpSalt};

#[derive(Default)]
pub struct Enrichment {
    /// None leaves `hashed_ip` null (only tests and tools run without a salt).
    pub salt: Option<IpSalt>,
    /// None leaves `country` and `state` null.
    pub geo: Option<GeoResolver>,
}

impl std::fmt::Debug for Enrichment {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Enrichment")
            .field("salt", &self.salt.as_ref().map(|_| "<redacted>"))
            .field("geo", &self.geo.as_ref().map(GeoResolver::describe))
            .finish()
    }
}

impl Enrichment {
    pub fn hash_ip(&self, ip: &str) -> Option<String> {
        self.salt.as_ref().map(|salt| salt.hash_ip(ip))
    }

    /// Country and most specific subdivision of `ip` in the database dated for `timestamp_us`.
    pub fn locate(&self, ip: &str, timestamp_us: i64) -> GeoAnswer {
        match &self.geo {
            Some(resolver) => resolver.lookup(ip, timestamp_us),
            None => GeoAnswer::default(),
        }
    }
}
