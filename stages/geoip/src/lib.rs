//! The geo stage: GeoIP lookups for the released logs (WildChat, arXiv 2405.01470): each user
//! turn's IP becomes the country and state from the GeoIP database dated on or before the reply
//! (the salted hash is the `ip-hash` stage). Raw IPs never reach a log line or an error message.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::NaiveDate;
use maxminddb::{MaxMindDbError, Mmap, Reader};
use serde::Deserialize;

/// Databases up to this size get a full `Reader::verify()` at open time. It walks every
/// network and decodes every record: measured (warm page cache, dependencies at opt-level 2)
/// at 0.16 ms for the 21 kB test database, 12 ms for a 3.6 MB and 52 ms for a 15 MB synthetic
/// City database, but about 0.3 s for a 59 MB one (4M nodes), i.e. the size of a production
/// GeoLite2-City, of which a run may open several; those only get the probe lookups.
const FULL_VERIFY_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// Addresses looked up once at open time: a corrupt data section usually fails to decode
/// on one of them, long before the first real lookup would hit it.
const PROBE_ADDRESSES: &[&str] = &[
    "1.1.1.1",
    "8.8.8.8",
    "81.2.69.142",
    "89.160.20.128",
    "175.16.199.0",
    "216.160.83.56",
    "2001:4860:4860::8888",
    "2001:218::",
    "2a02:cf40::",
];

const MICROSECONDS_PER_DAY: i64 = 86_400_000_000;

/// A database error for one address (a record that does not decode). It never names the
/// address, so it is safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("geoip lookup in {database} failed: {message}")]
pub struct LookupError {
    /// The database's file name.
    pub database: String,
    pub message: String,
}

/// Everything that can go wrong while loading the GeoIP databases. No variant carries an IP
/// address, so errors are safe to log.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("geoip database {} does not exist", path.display())]
    MissingDatabase { path: PathBuf },
    #[error("geoip database {} is unreadable or corrupt: {message}", path.display())]
    CorruptDatabase { path: PathBuf, message: String },
    #[error(
        "geoip database spec {spec:?} has no date (none in the file name, none given as \
         PATH@YYYY-MM-DD), which is required when more than one database is used"
    )]
    NoDate { spec: String },
    #[error(
        "geoip database {} has type {database_type:?}, expected a city or country database",
        path.display()
    )]
    WrongDatabaseType { path: PathBuf, database_type: String },
    #[error("invalid geoip database spec {spec:?}: {reason}")]
    InvalidSpec { spec: String, reason: String },
    #[error("no geoip database was given")]
    NoDatabases,
}

/// Where an IP was, as the released data shows it: English names, or None when unknown.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GeoAnswer {
    pub country: Option<String>,
    pub state: Option<String>,
}

/// One database on the command line: its path and the date from which it applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeoDatabaseSpec {
    pub path: PathBuf,
    pub date: Option<NaiveDate>,
}

impl GeoDatabaseSpec {
    /// "PATH" or "PATH@YYYY-MM-DD". Without an explicit date the date is taken from the file
    /// name (the first YYYY-MM-DD or YYYYMMDD in it that is a real date and not part of a
    /// longer run of digits, e.g. GeoLite2-City-2018-07-03.mmdb or GeoLite2-City_20180703.mmdb).
    /// An '@' followed by something with a path separator belongs to the path.
    pub fn parse(text: &str) -> Result<GeoDatabaseSpec, GeoError> {
        let trimmed_text = text.trim();
        let invalid_spec = |reason: &str| GeoError::InvalidSpec {
            spec: text.to_string(),
            reason: reason.to_string(),
        };
        let (path_text, explicit_date) = match trimmed_text.rsplit_once('@') {
            Some((path_text, date_text)) if !date_text.contains(['/', '\\']) => {
                let date = NaiveDate::parse_from_str(date_text.trim(), "%Y-%m-%d")
                    .map_err(|_| invalid_spec("the date after '@' is not a valid YYYY-MM-DD"))?;
                (path_text, Some(date))
            }
            _ => (trimmed_text, None),
        };
        if path_text.is_empty() {
            return Err(invalid_spec("the path is empty"));
        }
        let path = PathBuf::from(path_text);
        let date = explicit_date.or_else(|| {
            path.file_name()
                .and_then(|file_name| file_name.to_str())
                .and_then(date_in_file_name)
        });
        Ok(GeoDatabaseSpec { path, date })
    }
}

/// The first YYYY-MM-DD or YYYYMMDD in a file name that is a valid date and is not part of a
/// longer run of digits (so "GeoLite2" or a build number never passes for a date).
fn date_in_file_name(file_name: &str) -> Option<NaiveDate> {
    let name_bytes = file_name.as_bytes();
    let is_digit_at = |index: usize| name_bytes.get(index).is_some_and(u8::is_ascii_digit);
    for start in 0..name_bytes.len() {
        if !is_digit_at(start) || (start > 0 && is_digit_at(start - 1)) {
            continue;
        }
        for (pattern_length, format) in [(10, "%Y-%m-%d"), (8, "%Y%m%d")] {
            let end = start + pattern_length;
            if end > name_bytes.len() || is_digit_at(end) {
                continue;
            }
            let candidate = &name_bytes[start..end];
            let shape_matches = candidate.iter().enumerate().all(|(position, byte)| {
                if pattern_length == 10 && (position == 4 || position == 7) {
                    *byte == b'-'
                } else {
                    byte.is_ascii_digit()
                }
            });
            if !shape_matches {
                continue;
            }
            // The candidate is pure ASCII, so it is valid UTF-8.
            let Ok(candidate_text) = std::str::from_utf8(candidate) else {
                continue;
            };
            if let Ok(date) = NaiveDate::parse_from_str(candidate_text, format) {
                return Some(date);
            }
        }
    }
    None
}

/// Just the fields a lookup needs. Fields not named here are skipped without being expanded
/// by the decoder, which keeps a lookup cheap compared with decoding the full City record.
#[derive(Deserialize, Default)]
struct CountryAndSubdivisions<'record> {
    #[serde(borrow, default)]
    country: NamedPlace<'record>,
    #[serde(borrow, default)]
    subdivisions: Vec<NamedPlace<'record>>,
}

#[derive(Deserialize, Default)]
struct NamedPlace<'record> {
    #[serde(borrow, default)]
    names: EnglishName<'record>,
}

#[derive(Deserialize, Default)]
struct EnglishName<'record> {
    #[serde(borrow, default)]
    en: Option<&'record str>,
}

struct OpenDatabase {
    path: PathBuf,
    file_name: String,
    /// The date the database applies from; None only for a single undated database.
    date: Option<NaiveDate>,
    /// `date` as days since 1970-01-01, compared with reply timestamps without any range
    /// limits of chrono's date-time types.
    first_day_number: i64,
    /// sha256 of the file, for run fingerprints.
    sha256: String,
    reader: Reader<Mmap>,
}

/// The GeoIP databases of a run, sorted by date and memory-mapped; shared by all threads of a
/// worker behind an Arc.
pub struct GeoResolver {
    databases: Vec<OpenDatabase>,
    lookup_error_count: AtomicU64,
}

// Every worker thread shares one resolver.
const _: () = {
    const fn assert_send_and_sync<T: Send + Sync>() {}
    assert_send_and_sync::<GeoResolver>()
};

impl fmt::Debug for GeoResolver {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("GeoResolver")
            .field("databases", &self.describe())
            .field("lookup_errors", &self.lookup_errors())
            .finish()
    }
}

impl GeoResolver {
    /// Opens every database memory-mapped. A missing file, an unreadable or corrupt database,
    /// a database that is not a City/Country database, or an undated spec among several is an
    /// error naming the path. A single undated database is used for every date.
    pub fn open(specs: &[GeoDatabaseSpec]) -> Result<GeoResolver, GeoError> {
        if specs.is_empty() {
            return Err(GeoError::NoDatabases);
        }
        if specs.len() > 1 {
            if let Some(undated_spec) = specs.iter().find(|spec| spec.date.is_none()) {
                return Err(GeoError::NoDate {
                    spec: undated_spec.path.display().to_string(),
                });
            }
        }
        let mut databases = specs.iter().map(open_database).collect::<Result<Vec<_>, _>>()?;
        // Stable, so of two databases with the same date the one given later wins.
        databases.sort_by_key(|database| database.first_day_number);
        for database in &databases {
            tracing::info!(
                database = %database.path.display(),
                date = ?database.date,
                database_type = %database.reader.metadata().database_type,
                "opened geoip database"
            );
        }
        Ok(GeoResolver {
            databases,
            lookup_error_count: AtomicU64::new(0),
        })
    }

    /// The database for a reply finished at `timestamp_us` (UTC microseconds): the newest one
    /// dated on or before that day, else the earliest. Returns its index in date order.
    pub fn database_for(&self, timestamp_us: i64) -> usize {
        let reply_day_number = timestamp_us.div_euclid(MICROSECONDS_PER_DAY);
        let databases_on_or_before = self
            .databases
            .partition_point(|database| database.first_day_number <= reply_day_number);
        databases_on_or_before.saturating_sub(1)
    }

    /// English country name and English name of the most specific subdivision, from the
    /// database for `timestamp_us`. Anything unknown is None; an unparsable ip gives the
    /// default answer. A database error for one address is counted, not raised, so one bad
    /// record cannot stop a job.
    pub fn lookup(&self, ip: &str, timestamp_us: i64) -> GeoAnswer {
        self.try_lookup(ip, timestamp_us).unwrap_or_default()
    }

    /// As [`GeoResolver::lookup`], but a database error for this address comes back as a
    /// [`LookupError`] so that the caller can count it per job (DESIGN §8: skipped work is
    /// counted); it is also counted in [`GeoResolver::lookup_errors`]. An unparsable IP or an
    /// address the database does not hold is not an error: it answers unknown.
    pub fn try_lookup(&self, ip: &str, timestamp_us: i64) -> Result<GeoAnswer, LookupError> {
        let Ok(parsed_address) = ip.trim().parse::<IpAddr>() else {
            return Ok(GeoAnswer::default());
        };
        // ::ffff:a.b.c.d is how dual-stack servers report IPv4 clients; resolve it through
        // the IPv4 tree so that IPv4-only databases answer it as well.
        let address = match parsed_address {
            IpAddr::V6(address_v6) => address_v6.to_ipv4_mapped().map_or(parsed_address, IpAddr::V4),
            IpAddr::V4(_) => parsed_address,
        };
        let Some(database) = self.databases.get(self.database_for(timestamp_us)) else {
            return Ok(GeoAnswer::default());
        };
        if address.is_ipv6() && database.reader.metadata().ip_version == 4 {
            return Ok(GeoAnswer::default());
        }
        lookup_names(&database.reader, address).map_err(|error| {
            let errors_before = self.lookup_error_count.fetch_add(1, Ordering::Relaxed);
            // The first error is worth a warning; the rest only feed the run counter. Neither
            // names the address.
            if errors_before == 0 {
                tracing::warn!(
                    database = %database.path.display(),
                    %error,
                    "geoip lookup failed for the ip; answering unknown (counted as geoip_lookup_errors)"
                );
            } else {
                tracing::debug!(
                    database = %database.path.display(),
                    %error,
                    "geoip lookup failed for the ip; answering unknown"
                );
            }
            LookupError {
                database: database.file_name.clone(),
                message: error.to_string(),
            }
        })
    }

    /// Number of lookups that hit a database error, for the run counters.
    pub fn lookup_errors(&self) -> u64 {
        self.lookup_error_count.load(Ordering::Relaxed)
    }

    /// (file name, date, sha256 of the file) of each database in date order, dated as
    /// [`GeoResolver::describe`] dates them.
    pub fn fingerprints(&self) -> Vec<(String, NaiveDate, String)> {
        self.describe()
            .into_iter()
            .zip(&self.databases)
            .map(|((name, date), database)| (name, date, database.sha256.clone()))
            .collect()
    }

    /// (file name, date) of each database in date order. A single undated database reports
    /// the build date from its metadata, since it has no other.
    pub fn describe(&self) -> Vec<(String, NaiveDate)> {
        self.databases
            .iter()
            .map(|database| {
                let date = database.date.unwrap_or_else(|| build_date(&database.reader));
                (database.file_name.clone(), date)
            })
            .collect()
    }
}

fn build_date(reader: &Reader<Mmap>) -> NaiveDate {
    i64::try_from(reader.metadata().build_epoch)
        .ok()
        .and_then(|build_epoch| chrono::DateTime::from_timestamp(build_epoch, 0))
        .map(|build_time| build_time.date_naive())
        .unwrap_or_default()
}

fn lookup_names(reader: &Reader<Mmap>, address: IpAddr) -> Result<GeoAnswer, MaxMindDbError> {
    let lookup_result = reader.lookup(address)?;
    let Some(record) = lookup_result.decode::<CountryAndSubdivisions>()? else {
        return Ok(GeoAnswer::default());
    };
    Ok(GeoAnswer {
        country: record.country.names.en.map(str::to_string),
        state: record
            .subdivisions
            .last()
            .and_then(|subdivision| subdivision.names.en)
            .map(str::to_string),
    })
}

/// Small databases get the crate's full verifier (every network, every record); every
/// database gets probe lookups through the same decoding path as real lookups, which is all
/// that a large database gets, to keep opening it fast.
fn check_database_integrity(reader: &Reader<Mmap>, run_full_verify: bool) -> Result<(), String> {
    if run_full_verify {
        reader
            .verify()
            .map_err(|error| format!("verification failed: {error}"))?;
    }
    for probe_address_text in PROBE_ADDRESSES {
        let Ok(probe_address) = probe_address_text.parse::<IpAddr>() else {
            continue;
        };
        if probe_address.is_ipv6() && reader.metadata().ip_version == 4 {
            continue;
        }
        lookup_names(reader, probe_address).map_err(|error| format!("a probe lookup failed: {error}"))?;
    }
    Ok(())
}

fn open_database(spec: &GeoDatabaseSpec) -> Result<OpenDatabase, GeoError> {
    let path = spec.path.clone();
    let corrupt = |message: String| GeoError::CorruptDatabase {
        path: spec.path.clone(),
        message,
    };
    let file_metadata = match std::fs::metadata(&path) {
        Ok(file_metadata) => file_metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(GeoError::MissingDatabase { path });
        }
        Err(error) => return Err(corrupt(format!("cannot read it: {error}"))),
    };
    if !file_metadata.is_file() {
        return Err(corrupt("it is not a regular file".to_string()));
    }
    // SAFETY: the databases are read-only inputs that nothing modifies while a run uses them;
    // an operator replacing one must do so by renaming a new file into place, never by
    // rewriting it, because a mapped file that shrinks under us is undefined behaviour.
    let reader = unsafe { Reader::open_mmap(&path) }.map_err(|error| corrupt(error.to_string()))?;

    let database_type = reader.metadata().database_type.clone();
    let is_location_database = ["City", "Country", "Enterprise"]
        .iter()
        .any(|kind| database_type.contains(kind));
    if !is_location_database {
        return Err(GeoError::WrongDatabaseType { path, database_type });
    }

    // Opening only parses the metadata: the crate accepts a database whose data section is
    // broken (the double-format test database opens fine and fails only on some lookups), so
    // the checks below make such a database fail here instead of mid-run.
    let run_full_verify = file_metadata.len() <= FULL_VERIFY_MAX_BYTES;
    check_database_integrity(&reader, run_full_verify).map_err(corrupt)?;

    let file_name = path
        .file_name()
        .map(|file_name| file_name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let first_day_number = spec.date.map_or(i64::MIN, |date| {
        date.signed_duration_since(chrono::DateTime::UNIX_EPOCH.date_naive())
            .num_days()
    });
    let sha256 = file_sha256(&path).map_err(|error| corrupt(format!("cannot read it: {error}")))?;
    Ok(OpenDatabase {
        path,
        file_name,
        date: spec.date,
        first_day_number,
        sha256,
        reader,
    })
}

fn file_sha256(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use maxminddb::geoip2;
    use std::path::Path;

    const GEO_DATA_DIRECTORY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/geo");
    const TEST_CITY_DATABASE: &str = "GeoLite2-City-Test.mmdb";
    const BROKEN_DATABASE: &str = "GeoIP2-City-Test-Broken-Double-Format.mmdb";
    const EXPECTED_CSV: &str = "expected_GeoLite2-City-Test.csv";

    /// A path in the vendored geo test data. Missing data fails the test rather than skipping it,
    /// so a broken checkout cannot pass silently.
    fn geo_data_path(file_name: &str) -> PathBuf {
        let directory = Path::new(GEO_DATA_DIRECTORY);
        assert!(
            directory.is_dir(),
            "the vendored geo test data directory {} is missing",
            directory.display()
        );
        let path = directory.join(file_name);
        assert!(path.is_file(), "missing geo test data file {}", path.display());
        path
    }

    fn undated_test_resolver() -> GeoResolver {
        let spec = GeoDatabaseSpec {
            path: geo_data_path(TEST_CITY_DATABASE),
            date: None,
        };
        GeoResolver::open(&[spec]).expect("the test city database opens")
    }

    fn microseconds_at(year: i32, month: u32, day: u32, hms_micro: (u32, u32, u32, u32)) -> i64 {
        let (hour, minute, second, microsecond) = hms_micro;
        NaiveDate::from_ymd_opt(year, month, day)
            .and_then(|date| date.and_hms_micro_opt(hour, minute, second, microsecond))
            .expect("a valid test date")
            .and_utc()
            .timestamp_micros()
    }

    fn answer(country: Option<&str>, state: Option<&str>) -> GeoAnswer {
        GeoAnswer {
            country: country.map(str::to_string),
            state: state.map(str::to_string),
        }
    }

    #[test]
    fn fingerprints_carry_the_file_digest() {
        let resolver = undated_test_resolver();
        let fingerprints = resolver.fingerprints();
        assert_eq!(fingerprints.len(), 1);
        let (name, date, sha256) = &fingerprints[0];
        assert_eq!(name, TEST_CITY_DATABASE);
        assert_eq!(*date, resolver.describe()[0].1);
        let output = std::process::Command::new("sha256sum")
            .arg(geo_data_path(TEST_CITY_DATABASE))
            .output()
            .expect("sha256sum runs");
        let expected = String::from_utf8(output.stdout).unwrap();
        assert_eq!(expected.split_whitespace().next(), Some(sha256.as_str()));
    }

    #[test]
    fn every_expected_csv_row_resolves_as_expected() {
        let resolver = undated_test_resolver();
        let independent_reader =
            Reader::open_readfile(geo_data_path(TEST_CITY_DATABASE)).expect("the test city database reads");
        let csv_text = std::fs::read_to_string(geo_data_path(EXPECTED_CSV)).expect("expected csv reads");
        let mut csv_lines = csv_text.lines();
        assert_eq!(
            csv_lines.next(),
            Some(
                "ip,source_network,country_iso,subdivision_isos,city_en,\
                 registered_country_iso,matches_source_json"
            )
        );
        let mut checked_rows = 0;
        let mut rows_with_state = 0;
        for csv_line in csv_lines.filter(|line| !line.trim().is_empty()) {
            let columns: Vec<&str> = csv_line.split(',').collect();
            assert_eq!(columns.len(), 7, "row {csv_line:?}");
            let (ip, country_iso, subdivision_isos) = (columns[0], columns[2], columns[3]);

            let record: geoip2::City = independent_reader
                .lookup(ip.parse().expect("csv ip parses"))
                .expect("lookup works")
                .decode()
                .expect("record decodes")
                .expect("every csv ip is in the database");
            let expected_country_iso = (!country_iso.is_empty()).then_some(country_iso);
            assert_eq!(record.country.iso_code, expected_country_iso, "row {csv_line:?}");
            let record_subdivision_isos: Vec<&str> = record
                .subdivisions
                .iter()
                .map(|subdivision| subdivision.iso_code.unwrap_or_default())
                .collect();
            let expected_subdivision_isos: Vec<&str> = if subdivision_isos.is_empty() {
                Vec::new()
            } else {
                subdivision_isos.split('|').collect()
            };
            assert_eq!(record_subdivision_isos, expected_subdivision_isos, "row {csv_line:?}");

            let expected_country_name = expected_country_iso.map(|_| {
                record
                    .country
                    .names
                    .english
                    .expect("a country with an iso code has an english name")
            });
            let expected_state_name = expected_subdivision_isos.last().map(|last_iso| {
                record
                    .subdivisions
                    .iter()
                    .find(|subdivision| subdivision.iso_code == Some(*last_iso))
                    .and_then(|subdivision| subdivision.names.english)
                    .expect("the most specific subdivision has an english name")
            });
            let resolved = resolver.lookup(ip, 0);
            assert_eq!(
                resolved,
                answer(expected_country_name, expected_state_name),
                "row {csv_line:?}"
            );
            if resolved.state.is_some() {
                rows_with_state += 1;
            }
            checked_rows += 1;
        }
        assert!(checked_rows >= 200, "only {checked_rows} csv rows");
        assert!(rows_with_state >= 5, "only {rows_with_state} rows with a state");
        assert_eq!(resolver.lookup_errors(), 0);
    }

    #[test]
    fn literal_names_unknown_addresses_and_ipv4_mapped() {
        let resolver = undated_test_resolver();
        let england = answer(Some("United Kingdom"), Some("England"));
        assert_eq!(resolver.lookup("81.2.69.142", 0), england);
        assert_eq!(resolver.lookup("::ffff:81.2.69.142", 0), england);
        assert_eq!(resolver.lookup("::FFFF:81.2.69.142", i64::MAX), england);
        assert_eq!(
            resolver.lookup("2.125.160.216", 0),
            answer(Some("United Kingdom"), Some("West Berkshire"))
        );
        assert_eq!(
            resolver.lookup("216.160.83.56", 0),
            answer(Some("United States"), Some("Washington"))
        );
        assert_eq!(
            resolver.lookup("89.160.20.128", 0),
            answer(Some("Sweden"), Some("Östergötland County"))
        );
        assert_eq!(resolver.lookup("2001:218::1", i64::MIN), answer(Some("Japan"), None));
        for unknown_address in ["192.0.2.1", "10.0.0.1", "::1", "::ffff:192.0.2.1"] {
            assert_eq!(
                resolver.lookup(unknown_address, 0),
                GeoAnswer::default(),
                "{unknown_address}"
            );
        }
        for unparsable_ip in ["", "not an ip", "81.2.69", "81.2.69.142:443", "fe80::1%eth0"] {
            assert_eq!(
                resolver.lookup(unparsable_ip, 0),
                GeoAnswer::default(),
                "{unparsable_ip:?}"
            );
        }
        assert_eq!(resolver.lookup_errors(), 0);
        assert_eq!(resolver.database_for(i64::MIN), 0);
        assert_eq!(resolver.database_for(i64::MAX), 0);
        let described = resolver.describe();
        assert_eq!(described.len(), 1);
        assert_eq!(described[0].0, TEST_CITY_DATABASE);
    }

    #[test]
    fn broken_missing_and_non_mmdb_databases_fail_cleanly_at_open() {
        let broken_path = geo_data_path(BROKEN_DATABASE);
        let error = GeoResolver::open(&[GeoDatabaseSpec {
            path: broken_path.clone(),
            date: None,
        }])
        .expect_err("the broken database is rejected at open");
        match &error {
            GeoError::CorruptDatabase { path, .. } => assert_eq!(path, &broken_path),
            other_error => panic!("expected CorruptDatabase, got {other_error:?}"),
        }
        assert!(error.to_string().contains(BROKEN_DATABASE), "{error}");
        // The crate itself opens the broken database (it only parses the metadata); the
        // probe lookups alone, all that a large database gets, already reject it.
        // SAFETY: the shared test data is read-only.
        let broken_reader = unsafe { Reader::open_mmap(&broken_path) }.expect("the crate opens the broken database");
        let probe_only_message =
            check_database_integrity(&broken_reader, false).expect_err("the probe lookups catch the malformed doubles");
        assert!(probe_only_message.contains("probe lookup"), "{probe_only_message}");

        let temporary_directory = tempfile::tempdir().expect("tempdir");
        let missing_path = temporary_directory.path().join("GeoLite2-City-2020-01-01.mmdb");
        let error = GeoResolver::open(&[
            GeoDatabaseSpec::parse(missing_path.to_str().expect("utf-8 temp path")).expect("spec parses")
        ])
        .expect_err("a missing database is rejected");
        assert!(
            matches!(&error, GeoError::MissingDatabase { path } if path == &missing_path),
            "{error:?}"
        );

        let garbage_path = temporary_directory.path().join("garbage.mmdb");
        std::fs::write(&garbage_path, b"this is not a maxmind database\n".repeat(40)).expect("write garbage");
        let empty_path = temporary_directory.path().join("empty.mmdb");
        std::fs::write(&empty_path, b"").expect("write empty file");
        for not_a_database in [garbage_path, empty_path, temporary_directory.path().into()] {
            let error = GeoResolver::open(&[GeoDatabaseSpec {
                path: not_a_database.clone(),
                date: None,
            }])
            .expect_err("a non-mmdb file is rejected");
            assert!(
                matches!(&error, GeoError::CorruptDatabase { path, .. } if path == &not_a_database),
                "{error:?}"
            );
        }

        let error = GeoResolver::open(&[]).expect_err("no databases");
        assert!(matches!(error, GeoError::NoDatabases), "{error:?}");
    }

    #[test]
    fn a_lookup_error_is_counted_not_raised() {
        // Bypass `open` (which rejects this database) to see how a lookup survives a record
        // that fails to decode.
        // SAFETY: the shared test data is read-only.
        let broken_reader =
            unsafe { Reader::open_mmap(geo_data_path(BROKEN_DATABASE)) }.expect("the crate opens the broken database");
        let resolver = GeoResolver {
            databases: vec![OpenDatabase {
                path: geo_data_path(BROKEN_DATABASE),
                file_name: BROKEN_DATABASE.to_string(),
                date: None,
                first_day_number: i64::MIN,
                sha256: String::new(),
                reader: broken_reader,
            }],
            lookup_error_count: AtomicU64::new(0),
        };
        assert_eq!(resolver.lookup("89.160.20.128", 0), GeoAnswer::default());
        let error = resolver
            .try_lookup("175.16.199.0", 0)
            .expect_err("a record that does not decode");
        assert_eq!(error.database, BROKEN_DATABASE);
        assert!(!error.to_string().contains("175.16.199.0"), "{error}");
        assert_eq!(resolver.lookup_errors(), 2);
        assert_eq!(resolver.try_lookup("not an ip", 0), Ok(GeoAnswer::default()));
        // Records without a malformed value in this database still resolve.
        assert_eq!(
            resolver.lookup("81.2.69.142", 0),
            answer(Some("United Kingdom"), Some("England"))
        );
        assert_eq!(resolver.lookup("not an ip", 0), GeoAnswer::default());
        assert_eq!(resolver.lookup_errors(), 2);
    }

    /// MaxMind DB control bytes for the small values a metadata section needs.
    fn mmdb_control(type_number: u8, size: usize) -> Vec<u8> {
        assert!(size < 29, "the test encoder only writes short values");
        if type_number <= 7 {
            vec![(type_number << 5) | size as u8]
        } else {
            vec![size as u8, type_number - 7]
        }
    }

    fn mmdb_string(text: &str) -> Vec<u8> {
        let mut encoded = mmdb_control(2, text.len());
        encoded.extend_from_slice(text.as_bytes());
        encoded
    }

    fn mmdb_unsigned(type_number: u8, value: u64) -> Vec<u8> {
        let value_bytes = value.to_be_bytes();
        let first_nonzero = value_bytes.iter().position(|byte| *byte != 0).unwrap_or(8);
        let mut encoded = mmdb_control(type_number, 8 - first_nonzero);
        encoded.extend_from_slice(&value_bytes[first_nonzero..]);
        encoded
    }

    fn mmdb_map(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut encoded = mmdb_control(7, entries.len());
        for (key, value) in entries {
            encoded.extend(mmdb_string(key));
            encoded.extend_from_slice(value);
        }
        encoded
    }

    /// A valid IPv4-only database with one search-tree node and no data, of the given type.
    fn write_empty_database(path: &Path, database_type: &str) {
        let node_count = 1u64;
        // Both 24-bit records equal node_count, which means "no data".
        let mut database_bytes = vec![0, 0, 1, 0, 0, 1];
        database_bytes.extend([0u8; 16]);
        database_bytes.extend_from_slice(b"\xab\xcd\xefMaxMind.com");
        let mut languages = mmdb_control(11, 1);
        languages.extend(mmdb_string("en"));
        database_bytes.extend(mmdb_map(&[
            ("binary_format_major_version", mmdb_unsigned(5, 2)),
            ("binary_format_minor_version", mmdb_unsigned(5, 0)),
            ("build_epoch", mmdb_unsigned(9, 1_530_576_000)),
            ("database_type", mmdb_string(database_type)),
            ("description", mmdb_map(&[("en", mmdb_string("test"))])),
            ("ip_version", mmdb_unsigned(5, 4)),
            ("languages", languages),
            ("node_count", mmdb_unsigned(6, node_count)),
            ("record_size", mmdb_unsigned(5, 24)),
        ]));
        std::fs::write(path, database_bytes).expect("write the test database");
    }

    #[test]
    fn database_type_is_checked_and_ipv4_only_databases_work() {
        let temporary_directory = tempfile::tempdir().expect("tempdir");
        let asn_path = temporary_directory.path().join("GeoLite2-ASN.mmdb");
        write_empty_database(&asn_path, "GeoLite2-ASN");
        let error = GeoResolver::open(&[GeoDatabaseSpec {
            path: asn_path.clone(),
            date: None,
        }])
        .expect_err("an asn database is not a location database");
        assert!(
            matches!(&error, GeoError::WrongDatabaseType { path, database_type }
                if path == &asn_path && database_type == "GeoLite2-ASN"),
            "{error:?}"
        );

        let country_path = temporary_directory.path().join("GeoLite2-Country.mmdb");
        write_empty_database(&country_path, "GeoLite2-Country");
        let resolver = GeoResolver::open(&[GeoDatabaseSpec {
            path: country_path,
            date: None,
        }])
        .expect("an empty ipv4-only country database opens");
        for ip in ["81.2.69.142", "::ffff:81.2.69.142", "2001:218::1", "::1"] {
            assert_eq!(resolver.lookup(ip, 0), GeoAnswer::default(), "{ip}");
        }
        // IPv6 in an IPv4-only database is "not found", not a database error.
        assert_eq!(resolver.lookup_errors(), 0);
        let build_date = NaiveDate::from_ymd_opt(2018, 7, 3).expect("date");
        assert_eq!(
            resolver.describe(),
            vec![("GeoLite2-Country.mmdb".to_string(), build_date)]
        );
    }

    #[test]
    fn dated_databases_are_chosen_at_the_day_boundaries() {
        let temporary_directory = tempfile::tempdir().expect("tempdir");
        let source_path = geo_data_path(TEST_CITY_DATABASE);
        let first_path = temporary_directory.path().join("X-2018-01-01.mmdb");
        let second_path = temporary_directory.path().join("X_20190101.mmdb");
        let third_path = temporary_directory.path().join("X-latest.mmdb");
        for copy_path in [&first_path, &second_path, &third_path] {
            std::fs::copy(&source_path, copy_path).expect("copy the test database");
        }
        let spec_texts = [
            format!("{}@2020-06-30", third_path.display()),
            first_path.display().to_string(),
            second_path.display().to_string(),
        ];
        let specs: Vec<GeoDatabaseSpec> = spec_texts
            .iter()
            .map(|spec_text| GeoDatabaseSpec::parse(spec_text).expect("spec parses"))
            .collect();
        let resolver = GeoResolver::open(&specs).expect("dated databases open");
        let date = |year, month, day| NaiveDate::from_ymd_opt(year, month, day).expect("date");
        assert_eq!(
            resolver.describe(),
            vec![
                ("X-2018-01-01.mmdb".to_string(), date(2018, 1, 1)),
                ("X_20190101.mmdb".to_string(), date(2019, 1, 1)),
                ("X-latest.mmdb".to_string(), date(2020, 6, 30)),
            ]
        );

        let cases = [
            (i64::MIN, 0),
            (0, 0),
            (microseconds_at(2017, 12, 31, (23, 59, 59, 999_999)), 0),
            (microseconds_at(2018, 1, 1, (0, 0, 0, 0)), 0),
            (microseconds_at(2018, 12, 31, (23, 59, 59, 999_999)), 0),
            (microseconds_at(2019, 1, 1, (0, 0, 0, 0)), 1),
            (microseconds_at(2020, 6, 29, (23, 59, 59, 999_999)), 1),
            (microseconds_at(2020, 6, 30, (0, 0, 0, 0)), 2),
            (microseconds_at(2020, 6, 30, (12, 0, 0, 0)), 2),
            (microseconds_at(2262, 1, 1, (0, 0, 0, 0)), 2),
            (i64::MAX, 2),
        ];
        for (timestamp_us, expected_index) in cases {
            assert_eq!(
                resolver.database_for(timestamp_us),
                expected_index,
                "timestamp {timestamp_us}"
            );
        }
        // Sanity-check the helper against known epoch values.
        assert_eq!(microseconds_at(2018, 1, 1, (0, 0, 0, 0)), 1_514_764_800_000_000);
        assert_eq!(
            microseconds_at(2018, 12, 31, (23, 59, 59, 999_999)),
            1_546_300_799_999_999
        );
        let england = answer(Some("United Kingdom"), Some("England"));
        for (timestamp_us, _) in cases {
            assert_eq!(resolver.lookup("81.2.69.142", timestamp_us), england);
        }

        let undated_path = temporary_directory.path().join("X-undated.mmdb");
        std::fs::copy(&source_path, &undated_path).expect("copy the test database");
        let two_specs = [
            GeoDatabaseSpec::parse(&first_path.display().to_string()).expect("spec parses"),
            GeoDatabaseSpec::parse(&undated_path.display().to_string()).expect("spec parses"),
        ];
        let error = GeoResolver::open(&two_specs).expect_err("undated among several");
        assert!(matches!(&error, GeoError::NoDate { spec } if spec.contains("X-undated")));
        let both_undated = [
            GeoDatabaseSpec {
                path: undated_path.clone(),
                date: None,
            },
            GeoDatabaseSpec {
                path: source_path.clone(),
                date: None,
            },
        ];
        let error = GeoResolver::open(&both_undated).expect_err("two undated databases");
        assert!(matches!(error, GeoError::NoDate { .. }), "{error:?}");
    }

    #[test]
    fn spec_parsing() {
        let date = |year, month, day| NaiveDate::from_ymd_opt(year, month, day);
        let cases = [
            ("GeoLite2-City.mmdb", "GeoLite2-City.mmdb", None),
            (
                "/data/GeoLite2-City-2018-07-03.mmdb",
                "/data/GeoLite2-City-2018-07-03.mmdb",
                date(2018, 7, 3),
            ),
            (
                "GeoLite2-City_20180703.mmdb",
                "GeoLite2-City_20180703.mmdb",
                date(2018, 7, 3),
            ),
            ("x.mmdb@2020-06-30", "x.mmdb", date(2020, 6, 30)),
            (
                " GeoLite2-City-2018-07-03.mmdb@2019-02-28 ",
                "GeoLite2-City-2018-07-03.mmdb",
                date(2019, 2, 28),
            ),
            // The directory's date does not count, only the file name's.
            ("/2017-01-01/GeoLite2-City.mmdb", "/2017-01-01/GeoLite2-City.mmdb", None),
            (
                "/data/a@b/GeoLite2-City-2019-01-01.mmdb",
                "/data/a@b/GeoLite2-City-2019-01-01.mmdb",
                date(2019, 1, 1),
            ),
            ("GeoLite2-City-20181301.mmdb", "GeoLite2-City-20181301.mmdb", None),
            ("build-123456789.mmdb", "build-123456789.mmdb", None),
            (
                "City-2018-13-01-then-20190102.mmdb",
                "City-2018-13-01-then-20190102.mmdb",
                date(2019, 1, 2),
            ),
        ];
        for (spec_text, expected_path, expected_date) in cases {
            let spec = GeoDatabaseSpec::parse(spec_text).expect("spec parses");
            assert_eq!(
                spec,
                GeoDatabaseSpec {
                    path: PathBuf::from(expected_path),
                    date: expected_date,
                },
                "{spec_text:?}"
            );
        }
        for bad_spec_text in [
            "x.mmdb@2020-13-01",
            "x.mmdb@2020-02-30",
            "x.mmdb@20200630",
            "x.mmdb@",
            "@2020-06-30",
            "",
            "   ",
        ] {
            let error = GeoDatabaseSpec::parse(bad_spec_text).expect_err("bad spec rejected");
            assert!(
                matches!(error, GeoError::InvalidSpec { .. }),
                "{bad_spec_text:?}: {error:?}"
            );
        }
    }
}
