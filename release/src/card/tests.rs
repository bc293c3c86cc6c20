use serde_json::{json, Map};
use storage::ObjectMeta;

use super::*;
use crate::manifest::{Amendment, ShardEntry, Variant, MANIFEST_FORMAT};
use crate::stats::tests::{conversation, hashed_ip, write_shard, TestConversation};
use crate::stats::{merge, shard_stats};

/// Just enough YAML for the front matter: block mappings and sequences by indentation,
/// plain and double-quoted scalars. Anything else fails the test.
struct Yaml {
    lines: Vec<(usize, String)>,
    position: usize,
}

fn parse_yaml(text: &str) -> Value {
    let lines: Vec<(usize, String)> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            assert!(!line.contains('\t'), "tab in YAML: {line:?}");
            let indent = line.len() - line.trim_start_matches(' ').len();
            (indent, line[indent..].to_string())
        })
        .collect();
    let mut parser = Yaml { lines, position: 0 };
    let value = parser.block(0);
    assert_eq!(
        parser.position,
        parser.lines.len(),
        "YAML left unparsed at {:?}",
        parser.lines.get(parser.position)
    );
    value
}

fn scalar(text: &str) -> Value {
    if text.starts_with('"') {
        return Value::String(serde_json::from_str(text).expect("a double-quoted scalar"));
    }
    match text {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(number) = text.parse::<u64>() {
        return Value::from(number);
    }
    assert!(
        !text.starts_with(['[', '{', '&', '*', '!', '|', '>', '\'', '%', '@', '`', '-', '#'])
            && !text.contains(": ")
            && !text.contains(" #"),
        "plain scalar that YAML would misread: {text:?}"
    );
    Value::String(text.to_string())
}

impl Yaml {
    fn current(&self) -> Option<&(usize, String)> {
        self.lines.get(self.position)
    }

    fn block(&mut self, indent: usize) -> Value {
        let (line_indent, text) = self.current().expect("a YAML block").clone();
        assert_eq!(line_indent, indent, "bad indentation at {text:?}");
        if text.starts_with("- ") {
            self.sequence(indent)
        } else {
            self.mapping(indent)
        }
    }

    fn sequence(&mut self, indent: usize) -> Value {
        let mut items = Vec::new();
        while let Some((line_indent, text)) = self.current().cloned() {
            if line_indent != indent || !text.starts_with("- ") {
                break;
            }
            let rest = text[2..].to_string();
            if rest.contains(": ") || rest.ends_with(':') {
                self.lines[self.position] = (indent + 2, rest);
                items.push(self.mapping(indent + 2));
            } else {
                items.push(scalar(&rest));
                self.position += 1;
            }
        }
        Value::Array(items)
    }

    fn mapping(&mut self, indent: usize) -> Value {
        let mut map = Map::new();
        while let Some((line_indent, text)) = self.current().cloned() {
            assert!(line_indent <= indent, "unexpected indentation at {text:?}");
            if line_indent < indent || text.starts_with("- ") {
                break;
            }
            let (key, value) = match text.strip_suffix(':') {
                Some(key) => (key.to_string(), String::new()),
                None => {
                    let (key, value) = text.split_once(": ").expect("key: value");
                    (key.to_string(), value.to_string())
                }
            };
            assert!(!map.contains_key(&key), "duplicate key {key}");
            self.position += 1;
            let value = if value.is_empty() {
                match self.current().cloned() {
                    Some((next, text)) if next > indent || (next == indent && text.starts_with("- ")) => {
                        self.block(next)
                    }
                    _ => Value::Null,
                }
            } else {
                scalar(&value)
            };
            map.insert(key, value);
        }
        Value::Object(map)
    }
}

fn front_matter_of(card: &str) -> Value {
    let body = card.strip_prefix("---\n").expect("card starts with front matter");
    let (yaml, _) = body.split_once("\n---\n").expect("front matter ends");
    parse_yaml(yaml)
}

fn full_rows() -> Vec<TestConversation> {
    let mut toxic = conversation(2, &hashed_ip('b', '0'), "A<B & C|D", "English");
    toxic.toxic = Some(true);
    toxic.model = Some("gpt-4-0314".to_string());
    vec![
        conversation(1, &hashed_ip('a', '0'), "France", "French"),
        toxic,
        conversation(3, &hashed_ip('a', '1'), "France", "English"),
    ]
}

fn entry(key: &str, rows: u64, bytes: u64) -> ShardEntry {
    ShardEntry {
        key: key.to_string(),
        rows,
        bytes,
        sha256: "0".repeat(64),
        stats_key: None,
    }
}

fn fixture() -> (Manifest, BTreeMap<String, ReleaseStats>) {
    let full = full_rows();
    let nontoxic: Vec<TestConversation> = full.iter().filter(|row| row.toxic != Some(true)).cloned().collect();
    let mut statistics = BTreeMap::new();
    statistics.insert(
        "full".to_string(),
        merge(&[
            shard_stats(&write_shard(&full[..1])).expect("stats"),
            shard_stats(&write_shard(&full[1..])).expect("stats"),
        ]),
    );
    statistics.insert(
        "nontoxic".to_string(),
        merge(&[shard_stats(&write_shard(&nontoxic)).expect("stats")]),
    );
    let mut variants = BTreeMap::new();
    variants.insert(
        "nontoxic".to_string(),
        Variant {
            rows: 2,
            shards: vec![entry("releases/v2/nontoxic/part-00000.parquet", 2, 700)],
        },
    );
    variants.insert(
        "full".to_string(),
        Variant {
            rows: 3,
            shards: vec![
                entry("releases/v2/full/part-00000.parquet", 1, 500),
                entry("releases/v2/full/part-00001.parquet", 2, 600),
            ],
        },
    );
    let manifest = Manifest {
        format: MANIFEST_FORMAT.to_string(),
        version: "v2".to_string(),
        parent: Some("v1".to_string()),
        run_id: "run-1".to_string(),
        created_at: "2024-05-01T00:00:00+00:00".to_string(),
        code_version: "coordinator 0.1.0 (abc123)".to_string(),
        schema: "WildChat-1M".to_string(),
        config: json!({}),
        config_sha256: "c".repeat(64),
        inputs: vec![ObjectMeta {
            key: "raw/a.jsonl".to_string(),
            size: 10,
            etag: "e".to_string(),
        }],
        inputs_sha256: "d".repeat(64),
        variants,
        counters: json!({
            "rows_read": 12,
            "quarantined": {"invalid_json": 2},
            "chains_dropped": {},
            "excluded": {"sexual_minors": 1, "takedown": {"by_hash": 3}},
        }),
        work: json!({}),
        quarantine: vec![],
        statistics: BTreeMap::new(),
        amendment: Some(Amendment {
            removal_list_sha256: "f".repeat(64),
            removal_entries: 4,
            removed: [("full".to_string(), 1)].into_iter().collect(),
            rewritten_shards: [("full".to_string(), 1)].into_iter().collect(),
        }),
        fingerprint: Some(fingerprint()),
    };
    (manifest, statistics)
}

fn fingerprint() -> shared::fingerprint::RunFingerprint {
    use shared::fingerprint::{GeoDatabaseFingerprint, ResourceFingerprint, RunFingerprint, ToxicityFingerprint};
    RunFingerprint {
        resources: ResourceFingerprint {
            salt_key_id: "00112233aabbccdd".to_string(),
            geoip: vec![GeoDatabaseFingerprint {
                name: "GeoLite2-City.mmdb".to_string(),
                date: "2024-04-01".to_string(),
                sha256: "e".repeat(64),
            }],
            toxicity: ToxicityFingerprint {
                model: "linear:alt:0123".to_string(),
                threshold: 0.1,
                routes: Vec::new(),
                trained_on: Vec::new(),
                quality: None,
            },
            moderation: "none".to_string(),
            pii_ner: None,
            language_detector: "lingua 1.8.0".to_string(),
            code_version: "coordinator 0.1.0 (abc123)".to_string(),
        },
        pii_policy: shared::jobs::PiiPolicyConfig::default(),
    }
}

#[test]
fn the_processing_section_names_what_every_worker_matched() {
    let (mut manifest, statistics) = fixture();
    let card = render(&manifest, &statistics);
    let section = card
        .split("## Processing settings")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("a processing settings section");
    for expected in [
        "| IP salt | key id `00112233aabbccdd`",
        "`GeoLite2-City.mmdb` from 2024-04-01 (sha256 `eeee",
        "| Toxicity model | `linear:alt:0123`; a turn is flagged above 0.1 |",
        "| Moderation | none: `openai_moderation` is null |",
        "| PII redaction | `reference` policy, operator `replace` |",
        "| PII NER model | none (rule recognizers only) |",
        "| Language detector | lingua 1.8.0 |",
    ] {
        assert!(section.contains(expected), "missing {expected:?} in:\n{section}");
    }
    assert!(
        card.contains(
            "A turn is toxic when it is non-empty and its `toxicity` score from `linear:alt:0123` is above 0.1;"
        ),
        "the toxicity rule names the model and threshold that ran:\n{card}"
    );
    assert!(card.contains("No moderation source ran (`openai_moderation` is null), so no conversation was left out"));

    // The languages a model was trained on, when its config says.
    if let Some(fingerprint) = manifest.fingerprint.as_mut() {
        fingerprint.resources.toxicity.trained_on = vec!["English".to_string()];
    }
    let card = render(&manifest, &statistics);
    assert!(
        card.contains("| Toxicity model | `linear:alt:0123` (trained on English); a turn is flagged above 0.1 |"),
        "{card}"
    );

    // With a moderation source, the card names it, says it flags turns and how many
    // conversations its `sexual/minors` flag left out.
    if let Some(fingerprint) = manifest.fingerprint.as_mut() {
        fingerprint.resources.moderation = "openai:omni-moderation-latest@https://api.openai.com/v1".to_string();
    }
    let card = render(&manifest, &statistics);
    assert!(
        card.contains("| Moderation | `openai:omni-moderation-latest@https://api.openai.com/v1` |"),
        "{card}"
    );
    assert!(card.contains("flagged by moderation (`openai:omni-moderation-latest@https://api.openai.com/v1`) or its"));
    assert!(
        card.contains("flagged `sexual/minors` are left out of every configuration (1 in this run)"),
        "{card}"
    );

    manifest.fingerprint = None;
    assert!(
        !render(&manifest, &statistics).contains("## Processing settings"),
        "no fingerprint, no section"
    );
}

fn render(manifest: &Manifest, statistics: &BTreeMap<String, ReleaseStats>) -> String {
    render_card(&CardInput {
        manifest,
        statistics,
        license: "odc-by",
        pretty_name: "WildChat: \"test\" release",
    })
}

#[test]
fn the_toxicity_section_carries_the_models_quality_table_when_the_run_had_one() {
    use shared::fingerprint::{ModelQuality, QualityRow};
    let (mut manifest, statistics) = fixture();
    let card = render(&manifest, &statistics);
    assert!(!card.contains("Quality of the toxicity model"), "no figures, no table");
    let row = |set: &str, language: &str, toxic: u64, auc: Option<f64>, recall: Option<f64>, fpr: f64| QualityRow {
        set: set.to_string(),
        language: language.to_string(),
        rows: 500,
        toxic,
        roc_auc: auc,
        precision: auc.map(|_| 0.74),
        recall,
        false_positive_rate: Some(fpr),
    };
    if let Some(fingerprint) = manifest.fingerprint.as_mut() {
        fingerprint.resources.toxicity.quality = Some(ModelQuality {
            model: "linear:alt:0123".to_string(),
            measured_by: "make quality-toxicity".to_string(),
            rows: vec![
                row("germeval2018-de", "de", 162, Some(0.8051), Some(0.27), 0.045),
                row("mt-bench", "en", 0, None, None, 0.0),
                row("a|b", "x", 0, None, None, 0.01),
            ],
        });
    }
    let card = render(&manifest, &statistics);
    let toxicity = card
        .split("### Toxicity")
        .nth(1)
        .and_then(|rest| rest.split("\n### ").next())
        .unwrap();
    assert!(
        toxicity.contains("Quality of the toxicity model on labelled development data")
            && toxicity.contains("measured for `linear:alt:0123` by `make quality-toxicity`, not on this release"),
        "{toxicity}"
    );
    assert!(
        toxicity.contains("| germeval2018-de | de | 500 | 162 | 0.805 | 0.740 | 0.270 | 0.045 |"),
        "{toxicity}"
    );
    assert!(
        toxicity.contains("| mt-bench | en | 500 | 0 | – | – | – | 0.000 |"),
        "{toxicity}"
    );
    assert!(toxicity.contains("| a\\|b | x |"), "set names are escaped: {toxicity}");
}

#[test]
fn front_matter_describes_every_config_with_its_statistics() {
    let (manifest, statistics) = fixture();
    let card = render(&manifest, &statistics);
    let yaml = front_matter_of(&card);
    assert_eq!(yaml["license"], "odc-by");
    assert_eq!(yaml["pretty_name"], "WildChat: \"test\" release");
    assert_eq!(yaml["size_categories"], json!(["n<1K"]));
    assert_eq!(yaml["task_categories"][0], "text-generation");
    // By conversations in `full`: English 2, French 1.
    assert_eq!(yaml["language"], json!(["en", "fr"]));
    assert_eq!(
        yaml["configs"],
        json!([
            {"config_name": "full", "data_files": [{"split": "train", "path": "full/*.parquet"}], "default": true},
            {"config_name": "nontoxic", "data_files": [{"split": "train", "path": "nontoxic/*.parquet"}]},
        ])
    );
    let infos = yaml["dataset_info"].as_array().expect("dataset_info list");
    assert_eq!(infos.len(), 2);
    for info in infos {
        let name = info["config_name"].as_str().expect("config name");
        let split = &info["splits"][0];
        assert_eq!(split["name"], "train");
        assert_eq!(split["num_examples"], statistics[name].conversations);
        assert_eq!(split["num_examples"], manifest.variants[name].rows);
        let bytes: u64 = manifest.variants[name].shards.iter().map(|shard| shard.bytes).sum();
        assert_eq!(split["num_bytes"], bytes);
        assert_eq!(info["download_size"], bytes);
        let names: Vec<&str> = info["features"]
            .as_array()
            .expect("features")
            .iter()
            .filter_map(|feature| feature["name"].as_str())
            .collect();
        let schema = release_schema();
        let expected: Vec<&str> = schema.fields().iter().map(|field| field.name().as_str()).collect();
        assert_eq!(names, expected);
        let features = &info["features"];
        assert_eq!(
            features[2],
            json!({"name": "timestamp", "dtype": "timestamp[us, tz=UTC]"})
        );
        assert_eq!(features[4], json!({"name": "turn", "dtype": "int64"}));
        let turn_fields = features[3]["list"]
            .as_array()
            .expect("conversation is a list of structs");
        assert_eq!(turn_fields.len(), 11);
        assert_eq!(
            turn_fields[3],
            json!({"name": "header", "struct": [
                {"name": "accept-language", "dtype": "string"},
                {"name": "user-agent", "dtype": "string"},
            ]})
        );
        let moderation = &features[6]["list"];
        assert_eq!(moderation[0]["struct"].as_array().map(Vec::len), Some(18));
        assert_eq!(
            moderation[1]["struct"][1],
            json!({"name": "harassment/threatening", "dtype": "float64"})
        );
        assert_eq!(features[7]["list"][6], json!({"name": "toxicity", "dtype": "float64"}));
    }
}

#[test]
fn the_card_prints_the_numbers_of_the_statistics() {
    let (manifest, statistics) = fixture();
    let card = render(&manifest, &statistics);
    let full = &statistics["full"];
    assert_eq!((full.conversations, full.users, full.turns), (3, 2, 6));
    assert!(card.contains("| Conversations | 3 | 2 |"), "{card}");
    assert!(card.contains("| Users (distinct hashed IPs) | 2 | 1 |"), "{card}");
    assert!(card.contains("| Mean turns per conversation | 2.00 | 2.00 |"), "{card}");
    let lengths = format!(
        "| User prompt length, characters (mean ± sd) | {:.2} ± {:.2} |",
        full.user_prompt_chars.mean, full.user_prompt_chars.sd
    );
    assert!(card.contains(&lengths), "{card}");
    // Toxic conversations: 1 of 3 in full, none in nontoxic.
    assert!(card.contains("| Conversations | 1 (33.33%) | 0 (0.00%) |"), "{card}");
    assert!(card.contains("| French | 1 | 33.33 |"), "{card}");
    assert!(card.contains("| GPT-3.5 | 2 (66.67%) | 2 (100.00%) |"), "{card}");
    assert!(card.contains("| 1 | 1 (33.33%) | 1 (50.00%) |"), "{card}");
    for chart in CHART_FILES {
        assert!(card.contains(&format!("(charts/{chart})")), "{chart}");
    }
    assert!(card.contains("| Parent version | `v1` |"));
    assert!(card.contains("| `full` | 1 | 1 |"), "amendment table: {card}");
    assert!(!card.contains("> Note:"), "stats and manifest agree");
}

#[test]
fn counters_render_by_group_whatever_the_groups() {
    let (manifest, statistics) = fixture();
    let card = render(&manifest, &statistics);
    let counters = card.split("## Processing counters").nth(1).expect("counters section");
    assert!(counters.contains("| rows\\_read | 12 |"), "{counters}");
    assert!(counters.contains("### chains\\_dropped\n\nNone."), "{counters}");
    assert!(counters.contains("### excluded\n"), "{counters}");
    assert!(counters.contains("| takedown.by\\_hash | 3 |"), "{counters}");
    assert!(counters.contains("| invalid\\_json | 2 |"), "{counters}");
}

#[test]
fn labels_are_escaped_in_the_card_and_the_charts() {
    let (manifest, statistics) = fixture();
    let card = render(&manifest, &statistics);
    assert!(card.contains("| A&lt;B &amp; C\\|D | 1 | 33.33 |"), "{card}");
    let charts = render_charts(&statistics["full"]);
    let names: Vec<&str> = charts.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, CHART_FILES);
    for (name, svg) in &charts {
        assert_well_formed(svg);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{name}");
        assert!(svg.contains(" viewBox=\"0 0 "), "{name}");
    }
    assert!(charts[1].1.contains(">A&lt;B &amp; C|D</text>"), "{}", charts[1].1);
}

#[test]
fn distributions_show_the_top_rows_and_the_rest() {
    let rows: Vec<TestConversation> = (0..25)
        .map(|index| {
            let ip = format!("{index:016x}{}", "0".repeat(48));
            let mut row = conversation(1, &ip, &format!("Country {index:02}"), "English");
            if index < 2 {
                row.country = Some("Atlantis".to_string());
            }
            row
        })
        .collect();
    let stats = merge(&[shard_stats(&write_shard(&rows)).expect("stats")]);
    assert_eq!(stats.countries.len(), 24);
    let charts = render_charts(&stats);
    let countries = &charts[1].1;
    assert_well_formed(countries);
    // A background, 20 bars and one for the other 4 countries.
    assert_eq!(countries.matches("<rect").count(), 22);
    assert!(countries.contains(">Other (4 more)</text>"), "{countries}");
    assert!(countries.contains(">4 (16.00%)</text>"), "{countries}");
    assert!(countries.contains(">2 (8.00%)</text>"), "{countries}");
}

#[test]
fn rendering_is_deterministic_and_survives_missing_statistics() {
    let (manifest, statistics) = fixture();
    assert_eq!(render(&manifest, &statistics), render(&manifest, &statistics));
    let charts = render_charts(&statistics["full"]);
    assert_eq!(charts, render_charts(&statistics["full"]));

    let empty = BTreeMap::new();
    let card = render(&manifest, &empty);
    assert!(card.contains("No statistics were recorded for this release."));
    front_matter_of(&card);
    let charts = render_charts(&ReleaseStats::default());
    for (_, svg) in &charts {
        assert_well_formed(svg);
        assert!(svg.contains(">no data</text>"));
    }

    let mut disagreeing = statistics.clone();
    if let Some(stats) = disagreeing.get_mut("nontoxic") {
        stats.conversations = 5;
    }
    assert!(render(&manifest, &disagreeing)
        .contains("> Note: the statistics of `nontoxic` cover 5 conversations; the manifest lists 2."));
}

#[test]
fn scalars_are_quoted_when_yaml_would_misread_them() {
    assert_eq!(yaml_scalar("odc-by"), "odc-by");
    assert_eq!(yaml_scalar("cc-by-4.0"), "cc-by-4.0");
    assert_eq!(yaml_scalar("yes"), "\"yes\"");
    assert_eq!(yaml_scalar("a: b"), "\"a: b\"");
    assert_eq!(yaml_scalar("-x"), "\"-x\"");
    assert_eq!(yaml_scalar(""), "\"\"");
    assert_eq!(size_category(999), "n<1K");
    assert_eq!(size_category(1_000), "1K<n<10K");
    assert_eq!(size_category(837_989), "100K<n<1M");
}

/// Tags balance, attributes are quoted, and text holds no raw `<` or bare `&`.
fn assert_well_formed(svg: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        assert_text(&rest[..start]);
        let end = rest[start..].find('>').expect("an unclosed tag") + start;
        let tag = &rest[start + 1..end];
        assert!(!tag.contains('<'), "a `<` inside a tag: {tag}");
        assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes in {tag}");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
        } else if !tag.ends_with('/') {
            let name = tag.split_whitespace().next().expect("a tag name");
            stack.push(name.to_string());
        }
        rest = &rest[end + 1..];
    }
    assert_text(rest);
    assert!(stack.is_empty(), "unclosed tags {stack:?}");
    assert!(svg.trim_start().starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
}

fn assert_text(text: &str) {
    assert!(!text.contains('>'), "a raw `>` in text: {text}");
    for (index, _) in text.match_indices('&') {
        let entity = &text[index..];
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                .iter()
                .any(|known| entity.starts_with(known)),
            "a bare `&` in text: {text}"
        );
    }
}
