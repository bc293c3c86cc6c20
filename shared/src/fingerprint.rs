//! A run's fingerprint: everything besides the input and the plan that decides what a run
//! writes. The coordinator records it in the plan (and the manifest and card); every worker
//! computes its own from the resources it loaded and serves a run only when the two agree, so a
//! worker started with another salt, without the GeoIP databases or with another model leaves
//! the run's jobs to matching workers instead of mixing its output into the release.
//!
//! Nothing here is secret: the salt appears only as its key id (an HMAC under the salt).

use serde::{Deserialize, Serialize};

use crate::jobs::PiiPolicyConfig;

/// One GeoIP database as the fingerprint names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeoDatabaseFingerprint {
    /// File name (no directory: two machines may keep it in different places).
    pub name: String,
    /// The date it applies from (`YYYY-MM-DD`).
    pub date: String,
    /// sha256 of the file.
    pub sha256: String,
}

/// The toxicity model and the score above which a turn is flagged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToxicityFingerprint {
    /// The model's id: kind, name and a digest of its files and settings.
    pub model: String,
    /// For a routed model, the fallback route's threshold.
    pub threshold: f32,
    /// A routed model's routes, the fallback last (no languages); empty for other models.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<ToxicityRoute>,
    /// The languages the model was trained on, as its config says (none for a routed model:
    /// each route says its own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trained_on: Vec<String>,
    /// The model's quality on development data, when its config names a quality file measured
    /// for this very model (same id); the card shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<ModelQuality>,
}

/// A toxicity model's quality on labelled development data (`make quality-toxicity` writes it
/// next to the model's config): rows never trained on, scored as a run scores them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelQuality {
    /// The id of the model measured (a quality file of another model is not used).
    pub model: String,
    /// How the figures were made (the command), for the reader.
    pub measured_by: String,
    pub rows: Vec<QualityRow>,
}

/// One development set's figures; precision, recall and false-positive rate are at the model's
/// threshold, and a figure that is undefined for the set (no toxic rows) is absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityRow {
    /// The set's name, e.g. `germeval2018-de`, or a benign set such as `mt-bench`.
    pub set: String,
    pub language: String,
    pub rows: u64,
    /// Rows labelled toxic (0 for benign sets).
    pub toxic: u64,
    pub roc_auc: Option<f64>,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub false_positive_rate: Option<f64>,
}

/// Where a routed model sends the turns labelled `languages` (none: every other language).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToxicityRoute {
    pub languages: Vec<String>,
    pub model: String,
    pub threshold: f32,
    /// The languages the route's model was trained on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trained_on: Vec<String>,
}

// Thresholds are finite numbers (configs are checked), so equality is an equivalence.
impl Eq for ToxicityFingerprint {}

impl ToxicityFingerprint {
    /// Whether both score and flag turns alike: everything but the quality figures, which
    /// describe the model without changing what it writes (a worker without the quality file
    /// still serves the run).
    pub fn same_scoring(&self, other: &ToxicityFingerprint) -> bool {
        self.model == other.model
            && self.threshold == other.threshold
            && self.routes == other.routes
            && self.trained_on == other.trained_on
    }
}

/// What a worker brings to a run: the resources it loaded and the code it runs. Workers compare
/// this part; the PII policy travels in the jobs themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceFingerprint {
    /// `IpSalt::key_id`: 16 hex digits that differ between salts and reveal nothing of one.
    pub salt_key_id: String,
    /// The GeoIP databases in date order; empty = none (country and state are null).
    pub geoip: Vec<GeoDatabaseFingerprint>,
    pub toxicity: ToxicityFingerprint,
    /// The moderation source: `none`, or the endpoint's model.
    pub moderation: String,
    /// The PII token-classification model's id; None = the rule recognizers only.
    pub pii_ner: Option<String>,
    /// The language detector and the version of its models.
    pub language_detector: String,
    /// Program version and git commit.
    pub code_version: String,
}

/// The component names [`ResourceFingerprint::differences`] reports, in its order.
pub const COMPONENTS: [&str; 7] = [
    "salt",
    "geoip",
    "toxicity_model",
    "moderation",
    "pii_ner",
    "language_detector",
    "code_version",
];

/// The components a job of the queue `<run>/<kind>` depends on: map jobs parse and link (code
/// only), finalise jobs redact with the PII policy (whose hash operator is keyed by the salt),
/// analyse jobs use everything. A worker serves a run's queue when it matches in these; so CPU
/// workers without the GPU pool's model still serve a GPU run's map and finalise jobs.
pub fn components_for_queue(queue: &str) -> &'static [&'static str] {
    let kind = queue.rsplit_once('/').map_or(queue, |(_, kind)| kind);
    match kind {
        crate::jobs::MAP_QUEUE => &["code_version"],
        crate::jobs::FINALISE_QUEUE => &["salt", "code_version"],
        _ => &COMPONENTS,
    }
}

impl ResourceFingerprint {
    /// The components in which `self` differs from `other`, by name (never by value: the
    /// names are safe to log and to use as metric labels).
    pub fn differences(&self, other: &ResourceFingerprint) -> Vec<&'static str> {
        let same = [
            self.salt_key_id == other.salt_key_id,
            self.geoip == other.geoip,
            self.toxicity.same_scoring(&other.toxicity),
            self.moderation == other.moderation,
            self.pii_ner == other.pii_ner,
            self.language_detector == other.language_detector,
            self.code_version == other.code_version,
        ];
        COMPONENTS
            .iter()
            .zip(same)
            .filter(|(_, same)| !same)
            .map(|(name, _)| *name)
            .collect()
    }

    /// What a component is in this fingerprint, for error messages and the card: the salt's
    /// key id, database names and dates with the start of their digests, model ids.
    pub fn describe(&self, component: &str) -> String {
        match component {
            "salt" => format!("key id {}", self.salt_key_id),
            "geoip" if self.geoip.is_empty() => "none".to_string(),
            "geoip" => self
                .geoip
                .iter()
                .map(|database| {
                    format!(
                        "{}@{} (sha256 {})",
                        database.name,
                        database.date,
                        database.sha256.get(..12).unwrap_or(&database.sha256)
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
            "toxicity_model" => format!("{} above {}", self.toxicity.model, self.toxicity.threshold),
            "moderation" => self.moderation.clone(),
            "pii_ner" => self.pii_ner.clone().unwrap_or_else(|| "none (rules only)".to_string()),
            "language_detector" => self.language_detector.clone(),
            "code_version" => self.code_version.clone(),
            _ => String::new(),
        }
    }
}

/// The fingerprint a run plan and its release record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFingerprint {
    #[serde(flatten)]
    pub resources: ResourceFingerprint,
    /// The PII redaction policy (DESIGN §6).
    pub pii_policy: PiiPolicyConfig,
}

/// A worker's report that it leaves a run alone because its fingerprint differs: kept in the
/// queue backend beside the run's announcement, read by `coordinator status`, the coordinator's
/// progress line and the fleet endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MismatchReport {
    pub run_id: String,
    /// The worker process's name.
    pub worker: String,
    /// [`COMPONENTS`] that differ.
    pub components: Vec<String>,
    /// Unix milliseconds of the latest report; a worker repeats it while it keeps skipping.
    pub updated_ms: u64,
}

/// A report older than this is from a worker that stopped (or was fixed and restarted under
/// another name): readers leave it out.
pub const MISMATCH_REPORT_TTL_MS: u64 = 120_000;

impl MismatchReport {
    pub fn is_current(&self, now_ms: u64) -> bool {
        now_ms.saturating_sub(self.updated_ms) <= MISMATCH_REPORT_TTL_MS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint() -> ResourceFingerprint {
        ResourceFingerprint {
            salt_key_id: "0123456789abcdef".to_string(),
            geoip: vec![GeoDatabaseFingerprint {
                name: "city.mmdb".to_string(),
                date: "2024-01-01".to_string(),
                sha256: "ab".repeat(32),
            }],
            toxicity: ToxicityFingerprint {
                model: "linear:m:0011".to_string(),
                threshold: 0.1,
                routes: Vec::new(),
                trained_on: Vec::new(),
                quality: None,
            },
            moderation: "none".to_string(),
            pii_ner: None,
            language_detector: "lingua 1.8.0".to_string(),
            code_version: "wildchat-pipeline 0.1.0 (git abc)".to_string(),
        }
    }

    #[test]
    fn differences_name_each_component_that_differs_and_nothing_else() {
        let run = fingerprint();
        assert!(run.differences(&fingerprint()).is_empty());
        let mut worker = fingerprint();
        worker.salt_key_id = "fedcba9876543210".to_string();
        worker.geoip.clear();
        assert_eq!(worker.differences(&run), vec!["salt", "geoip"]);
        let mut worker = fingerprint();
        worker.toxicity.threshold = 0.5;
        worker.pii_ner = Some("ner:x:00".to_string());
        worker.code_version = "other".to_string();
        assert_eq!(
            worker.differences(&run),
            vec!["toxicity_model", "pii_ner", "code_version"]
        );
        let mut measured = fingerprint();
        measured.toxicity.quality = Some(ModelQuality {
            model: measured.toxicity.model.clone(),
            measured_by: "make quality-toxicity".to_string(),
            rows: Vec::new(),
        });
        assert!(
            measured.differences(&run).is_empty(),
            "quality figures do not change what a worker writes"
        );
        worker.geoip.clear();
        assert_eq!(worker.describe("geoip"), "none");
        assert!(run
            .describe("geoip")
            .starts_with("city.mmdb@2024-01-01 (sha256 abababababab)"));
        assert_eq!(run.describe("salt"), "key id 0123456789abcdef");
    }

    #[test]
    fn each_queue_depends_on_what_its_jobs_use() {
        assert_eq!(components_for_queue("r/map"), ["code_version"]);
        assert_eq!(components_for_queue("r/finalise"), ["salt", "code_version"]);
        assert_eq!(components_for_queue("r/partition"), COMPONENTS);
        assert_eq!(components_for_queue("r/partition-gpu"), COMPONENTS);
    }

    #[test]
    fn the_run_fingerprint_is_flat_json_and_reads_back() {
        let run = RunFingerprint {
            resources: fingerprint(),
            pii_policy: PiiPolicyConfig::default(),
        };
        let json = serde_json::to_value(&run).unwrap();
        assert_eq!(json["salt_key_id"], "0123456789abcdef");
        assert_eq!(json["toxicity"]["threshold"].as_f64().unwrap() as f32, 0.1);
        let back: RunFingerprint = serde_json::from_value(json).unwrap();
        assert_eq!(back, run);
    }

    #[test]
    fn old_reports_stop_counting() {
        let report = MismatchReport {
            run_id: "r".to_string(),
            worker: "w".to_string(),
            components: vec!["salt".to_string()],
            updated_ms: 1_000_000,
        };
        assert!(report.is_current(1_000_000 + MISMATCH_REPORT_TTL_MS));
        assert!(!report.is_current(1_000_001 + MISMATCH_REPORT_TTL_MS));
    }
}
