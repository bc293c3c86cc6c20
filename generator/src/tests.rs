//! Tests of the generator as a whole: determinism, measured shares on 20k conversations,
//! truth bookkeeping, Python repr fidelity checked by python3 itself, and the expected
//! conversations re-derived by the independent reference linker.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

use super::encode::python_dict_repr;
use super::network::{draw_header_habits, header_entries, HeaderInput, USER_AGENTS};
use super::reference_linker::{count_reasons, link, parse_line, parse_python_str_dict, LinkOutcome, ParsedLine};
use super::*;

struct Generated {
    objects: BTreeMap<String, Vec<u8>>,
    summary: GenerateSummary,
}

fn generate_in_memory(options: &GenerateOptions) -> Generated {
    let objects = Mutex::new(BTreeMap::new());
    let progress_calls = Mutex::new(Vec::new());
    let summary = generate(
        options,
        &|key, bytes| {
            let mut stored = objects.lock().map_err(|_| anyhow::anyhow!("sink lock poisoned"))?;
            anyhow::ensure!(stored.insert(key.to_string(), bytes).is_none(), "{key} stored twice");
            Ok(())
        },
        &|done, total| progress_calls.lock().expect("progress lock").push((done, total)),
    )
    .expect("generation succeeds");
    let objects = objects.into_inner().expect("sink lock");
    let progress_calls = progress_calls.into_inner().expect("progress lock");
    let total = summary.objects.len();
    assert_eq!(progress_calls.len(), total);
    assert!(progress_calls.contains(&(total, total)));
    assert_eq!(
        objects.keys().cloned().collect::<HashSet<_>>(),
        summary.objects.iter().cloned().collect()
    );
    Generated { objects, summary }
}

fn decompress(key: &str, bytes: &[u8]) -> String {
    let mut text = String::new();
    if key.ends_with(".gz") {
        flate2::read::GzDecoder::new(bytes)
            .read_to_string(&mut text)
            .expect("gzip object decodes");
    } else if key.ends_with(".zst") {
        zstd::stream::read::Decoder::new(bytes)
            .expect("zstd decoder")
            .read_to_string(&mut text)
            .expect("zstd object decodes");
    } else {
        text = String::from_utf8(bytes.to_vec()).expect("plain object is utf-8");
    }
    text
}

/// The 20k-conversation dataset, parsed once and shared by the tests below.
struct Analysis {
    generated: Generated,
    summary_json: Value,
    truth_conversations: Vec<Value>,
    planted: Vec<Value>,
    reference: LinkOutcome,
    quarantined: BTreeMap<String, u64>,
    ids: Vec<u64>,
    valid_rows: u64,
    header_reprs: Vec<String>,
    /// (user content, reply) of the rows the planted truth points at.
    planted_rows: HashMap<u64, (String, String)>,
    ipv6_rows: u64,
    /// Distinct fingerprints seen per client IP.
    fingerprints_per_ip: HashMap<String, HashSet<(String, String)>>,
}

fn analysis() -> &'static Analysis {
    static ANALYSIS: OnceLock<Analysis> = OnceLock::new();
    ANALYSIS.get_or_init(|| {
        let generated = generate_in_memory(&GenerateOptions {
            conversations: 20_000,
            seed: 2024,
            objects: None,
        });
        let summary_json: Value =
            serde_json::from_slice(&generated.objects[SUMMARY_TRUTH_KEY]).expect("summary is json");
        let parse_all = |key: &str| -> Vec<Value> {
            decompress(key, &generated.objects[key])
                .lines()
                .map(|line| serde_json::from_str(line).expect("truth line is json"))
                .collect()
        };
        let truth_conversations = parse_all(CONVERSATIONS_TRUTH_KEY);
        let planted = parse_all(PLANTED_TRUTH_KEY);
        let planted_ids: HashSet<u64> = planted
            .iter()
            .map(|record| record["turn_identifier"].as_u64().expect("id"))
            .collect();

        let mut rows = Vec::new();
        let mut reasons: Vec<&'static str> = Vec::new();
        let mut ids = Vec::new();
        let mut header_reprs = Vec::new();
        let mut planted_rows = HashMap::new();
        let mut fingerprints_per_ip: HashMap<String, HashSet<(String, String)>> = HashMap::new();
        let mut ipv6_rows = 0;
        for key in generated.objects.keys().filter(|key| key.starts_with("raw/")) {
            let text = decompress(key, &generated.objects[key]);
            assert!(text.is_empty() || text.ends_with('\n'));
            let mut previous_id = 0;
            for line in text.lines() {
                if let Ok(value) = serde_json::from_str::<Value>(line) {
                    if let Some(id) = value.get("id").and_then(Value::as_u64) {
                        assert!(id > previous_id, "ids ascend inside {key}");
                        previous_id = id;
                        ids.push(id);
                    }
                }
                match parse_line(line) {
                    ParsedLine::Row(row) => {
                        let headers = serde_json::from_str::<Value>(line)
                            .ok()
                            .and_then(|value| value.get("text").and_then(|text| text.get("headers")).cloned());
                        if let Some(Value::String(repr)) = headers {
                            // A spread sample plus every unusual one (double quotes, non-ASCII).
                            if header_reprs.len() < 400
                                || (header_reprs.len() < 2_000 && (repr.contains('"') || !repr.is_ascii()))
                            {
                                header_reprs.push(repr);
                            }
                        }
                        if planted_ids.contains(&row.id) {
                            planted_rows.insert(row.id, (row.user_content.clone(), row.reply.clone()));
                        }
                        ipv6_rows += u64::from(row.ip.contains(':'));
                        fingerprints_per_ip
                            .entry(row.ip.clone())
                            .or_default()
                            .insert(row.fingerprint.clone());
                        rows.push(*row);
                    }
                    ParsedLine::Quarantined(reason) => reasons.push(reason),
                }
            }
        }
        let valid_rows = rows.len() as u64;
        Analysis {
            summary_json,
            truth_conversations,
            planted,
            reference: link(rows),
            quarantined: count_reasons(reasons.into_iter()),
            ids,
            valid_rows,
            header_reprs,
            planted_rows,
            ipv6_rows,
            fingerprints_per_ip,
            generated,
        }
    })
}

#[test]
fn same_options_give_identical_objects_and_another_seed_differs() {
    let options = GenerateOptions {
        conversations: 600,
        seed: 11,
        objects: Some(4),
    };
    let first = generate_in_memory(&options);
    let second = generate_in_memory(&options);
    assert_eq!(first.summary, second.summary);
    assert_eq!(first.objects, second.objects);
    assert_eq!(first.summary.objects.len(), 4 + 3);
    let other = generate_in_memory(&GenerateOptions { seed: 12, ..options });
    for key in first.objects.keys().filter(|key| key.starts_with("raw/")) {
        assert_ne!(first.objects[key], other.objects[key], "{key}");
    }
}

#[test]
fn tiny_and_empty_runs_still_write_every_object() {
    let empty = generate_in_memory(&GenerateOptions {
        conversations: 0,
        seed: 1,
        objects: None,
    });
    assert_eq!(empty.summary.lines_written, 0);
    assert_eq!(empty.summary.objects.len(), 3 + 3);
    let single = generate_in_memory(&GenerateOptions {
        conversations: 1,
        seed: 1,
        objects: Some(1),
    });
    assert!(single.summary.rows_written >= 1);
    let raw = decompress("raw/part-00000.jsonl", &single.objects["raw/part-00000.jsonl"]);
    assert_eq!(raw.lines().count() as u64, single.summary.lines_written);
}

#[test]
fn shares_on_20k_conversations_are_near_their_targets() {
    let analysis = analysis();
    let shares = &analysis.summary_json["shares"];
    let number = |value: &Value| value.as_f64().expect("number");
    let mean_turns = number(&shares["mean_turns"]);
    let multi_turn = number(&shares["multi_turn"]);
    println!(
        "{}",
        serde_json::to_string_pretty(&analysis.summary_json).unwrap_or_default()
    );
    assert!((2.3..=2.7).contains(&mean_turns), "mean turns {mean_turns}");
    assert!((0.37..=0.45).contains(&multi_turn), "multi-turn {multi_turn}");
    assert!(shares["max_turns"].as_u64().expect("max") > 10);
    let language = |name: &str| number(&shares["language"][name]);
    assert!(
        (0.49..=0.57).contains(&language("English")),
        "English {}",
        language("English")
    );
    assert!(
        (0.11..=0.15).contains(&language("Chinese")),
        "Chinese {}",
        language("Chinese")
    );
    assert!(
        (0.10..=0.14).contains(&language("Russian")),
        "Russian {}",
        language("Russian")
    );
    assert!(shares["language"].as_object().expect("languages").len() >= 20);
    let gpt4 = number(&shares["model"]["gpt-4"]);
    assert!((0.21..=0.27).contains(&gpt4), "gpt-4 {gpt4}");
    let user_tokens = number(&shares["mean_user_tokens"]);
    let assistant_tokens = number(&shares["mean_assistant_tokens"]);
    assert!((240.0..=360.0).contains(&user_tokens), "user tokens {user_tokens}");
    assert!(
        (380.0..=500.0).contains(&assistant_tokens),
        "assistant tokens {assistant_tokens}"
    );

    // The same shares recomputed from the truth file itself.
    let conversations = &analysis.truth_conversations;
    let turns: Vec<usize> = conversations
        .iter()
        .map(|conversation| conversation["turn_identifiers"].as_array().expect("ids").len())
        .collect();
    let recomputed_mean = turns.iter().sum::<usize>() as f64 / turns.len() as f64;
    assert!((recomputed_mean - mean_turns).abs() < 1e-3);
    let english = conversations
        .iter()
        .filter(|conversation| conversation["language"] == "English")
        .count();
    assert!((english as f64 / conversations.len() as f64 - language("English")).abs() < 1e-3);
    let models: HashSet<&str> = conversations
        .iter()
        .filter_map(|conversation| conversation["model"].as_str())
        .collect();
    for model in [
        "gpt-3.5-turbo-0301",
        "gpt-3.5-turbo-0613",
        "gpt-3.5-turbo-0125",
        "gpt-4-0314",
        "gpt-4-1106-preview",
        "gpt-4-0125-preview",
    ] {
        assert!(models.contains(model), "{model} missing");
    }
}

#[test]
fn truth_counts_add_up_and_ids_are_unique() {
    let analysis = analysis();
    let summary = &analysis.generated.summary;
    let json = &analysis.summary_json;
    let count = |value: &Value| value.as_u64().expect("count");
    assert_eq!(count(&json["rows_written"]), summary.rows_written);
    assert_eq!(count(&json["lines_written"]), summary.lines_written);
    assert_eq!(count(&json["expected_conversations"]), summary.expected_conversations);
    assert_eq!(count(&json["expected_turns"]), summary.expected_turns);
    assert_eq!(
        analysis.truth_conversations.len() as u64,
        summary.expected_conversations
    );
    let rows_in_dropped = count(&json["rows_in_dropped_chains"]);
    assert!(rows_in_dropped > 0);
    assert_eq!(summary.rows_written, summary.expected_turns + rows_in_dropped);
    let quarantined: u64 = json["quarantined"]
        .as_object()
        .expect("reasons")
        .values()
        .map(count)
        .sum();
    assert_eq!(summary.lines_written, summary.rows_written + quarantined);
    let malformed_share = quarantined as f64 / summary.lines_written as f64;
    assert!(
        (0.004..=0.006).contains(&malformed_share),
        "malformed share {malformed_share}"
    );

    // Every valid line parses; every quarantined line fails for its planted reason.
    assert_eq!(analysis.valid_rows, summary.rows_written);
    let expected_reasons: BTreeMap<String, u64> = json["quarantined"]
        .as_object()
        .expect("reasons")
        .iter()
        .filter(|(_, value)| count(value) > 0)
        .map(|(reason, value)| (reason.clone(), count(value)))
        .collect();
    assert_eq!(analysis.quarantined, expected_reasons);
    assert_eq!(expected_reasons.len(), 4);

    let distinct: HashSet<u64> = analysis.ids.iter().copied().collect();
    assert_eq!(distinct.len(), analysis.ids.len(), "ids are unique");
    assert!(analysis.ids.len() as u64 >= summary.rows_written);

    let truth_ids: Vec<u64> = analysis
        .truth_conversations
        .iter()
        .flat_map(|conversation| conversation["turn_identifiers"].as_array().expect("ids").iter())
        .map(|id| id.as_u64().expect("id"))
        .collect();
    assert_eq!(truth_ids.len() as u64, summary.expected_turns);
    let firsts: Vec<u64> = analysis
        .truth_conversations
        .iter()
        .map(|conversation| conversation["turn_identifiers"][0].as_u64().expect("id"))
        .collect();
    assert!(firsts.windows(2).all(|pair| pair[0] < pair[1]), "sorted by first id");
}

#[test]
fn independent_linker_reaches_the_truth() {
    let analysis = analysis();
    let truth: Vec<(Vec<u64>, String)> = analysis
        .truth_conversations
        .iter()
        .map(|conversation| {
            let ids = conversation["turn_identifiers"]
                .as_array()
                .expect("ids")
                .iter()
                .map(|id| id.as_u64().expect("id"))
                .collect();
            (ids, conversation["model"].as_str().expect("model").to_string())
        })
        .collect();
    assert_eq!(analysis.reference.conversations.len(), truth.len());
    for (derived, expected) in analysis.reference.conversations.iter().zip(&truth) {
        assert_eq!(derived, expected);
    }
    let json = &analysis.summary_json;
    assert_eq!(
        Some(analysis.reference.dropped_chains),
        json["chains_dropped"]["missing_parent"].as_u64()
    );
    assert_eq!(
        Some(analysis.reference.rows_in_dropped_chains),
        json["rows_in_dropped_chains"].as_u64()
    );
    // Every scenario was planted.
    for scenario in [
        "regenerated_first_reply",
        "regenerated_later_reply",
        "missing_first_turns",
        "ip_change",
        "twins",
    ] {
        assert!(json["scenarios"][scenario].as_u64().unwrap_or(0) > 50, "{scenario}");
    }
}

#[test]
fn planted_items_sit_where_the_truth_says() {
    let analysis = analysis();
    let mut pii = 0;
    let mut toxic_turns = HashSet::new();
    let mut entities = HashSet::new();
    let mut placeholders = 0;
    for record in &analysis.planted {
        let id = record["turn_identifier"].as_u64().expect("id");
        let (user, reply) = &analysis.planted_rows[&id];
        let content = if record["role"] == "user" { user } else { reply };
        match record["kind"].as_str() {
            Some("pii") => {
                pii += 1;
                entities.insert(record["entity"].as_str().expect("entity").to_string());
                placeholders += usize::from(record["placeholder"] == true);
                let start = record["start"].as_u64().expect("start") as usize;
                let end = record["end"].as_u64().expect("end") as usize;
                let slice: String = content.chars().skip(start).take(end - start).collect();
                assert_eq!(slice, record["value"].as_str().expect("value"));
            }
            Some("toxic") => {
                toxic_turns.insert(id);
                assert!(content.contains(record["phrase"].as_str().expect("phrase")));
            }
            other => panic!("unexpected kind {other:?}"),
        }
    }
    let user_turns = analysis.generated.summary.expected_turns as f64;
    let pii_share = pii as f64 / user_turns;
    assert!((0.02..=0.04).contains(&pii_share), "pii share {pii_share}");
    assert_eq!(entities.len(), 4);
    assert!(placeholders > 0);
    let toxic_share = toxic_turns.len() as f64 / analysis.generated.summary.expected_conversations as f64;
    assert!((0.035..=0.065).contains(&toxic_share), "toxic share {toxic_share}");
}

#[test]
fn users_share_fingerprints_and_addresses_realistically() {
    let analysis = analysis();
    let ipv6_share = analysis.ipv6_rows as f64 / analysis.valid_rows as f64;
    assert!((0.05..=0.15).contains(&ipv6_share), "ipv6 share {ipv6_share}");
    let busiest_nat = analysis
        .fingerprints_per_ip
        .values()
        .map(HashSet::len)
        .max()
        .unwrap_or(0);
    assert!(busiest_nat >= 5, "a shared address carries {busiest_nat} fingerprints");
    let no_accept_language = analysis
        .fingerprints_per_ip
        .values()
        .flatten()
        .filter(|(_, accept_language)| accept_language.is_empty())
        .count();
    assert!(no_accept_language > 0);
}

const PYTHON_CHECK: &str = r#"
import ast, json, sys
cases = json.load(sys.stdin)
bad = 0
for case in cases:
    text = case["repr"]
    if case.get("must_fail"):
        try:
            ast.literal_eval(text)
            bad += 1
            print("accepted", text)
        except Exception:
            pass
        continue
    value = ast.literal_eval(text)
    if not isinstance(value, dict) or value != dict(case["entries"]):
        bad += 1
        print("mismatch", text)
    if repr(value) != text:
        bad += 1
        print("repr differs", repr(value), text)
print("checked", len(cases), "bad", bad)
sys.exit(1 if bad else 0)
"#;

#[test]
fn header_reprs_round_trip_through_python() {
    let analysis = analysis();
    let mut cases: Vec<Value> = Vec::new();
    // Reprs from the generated rows; the expected dict comes from the test-only parser.
    for repr in &analysis.header_reprs {
        let entries = parse_python_str_dict(repr).expect("row repr parses");
        cases.push(serde_json::json!({"repr": repr, "entries": entries}));
    }
    // Every user-agent through the generator's own header builder, compared with the
    // entries it was given.
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(5);
    for agent in USER_AGENTS {
        let habits = draw_header_habits(&mut rng);
        let entries = header_entries(&HeaderInput {
            host: "yuntian-deng-chatgpt.hf.space",
            user_agent: agent.text,
            accept_language: Some("en-US,en;q=0.9"),
            habits: &habits,
            client_ip: Some("2601:1c2:4301:a3d0:5c1e:91ab:2f3:7b1"),
            proxy_ip: "172.70.1.2",
        });
        let borrowed: Vec<(&str, &str)> = entries.iter().map(|(name, value)| (*name, value.as_str())).collect();
        cases.push(serde_json::json!({"repr": python_dict_repr(&borrowed), "entries": borrowed}));
    }
    for text in ["{'user-agent': __import__('os').system('x')}", "{'a': eval('1+1')}"] {
        cases.push(serde_json::json!({"repr": text, "must_fail": true}));
    }
    assert!(cases.len() >= 240);
    assert!(analysis
        .header_reprs
        .iter()
        .any(|repr| repr.contains("\"Mozilla") || repr.contains(": \"")));

    let mut child = Command::new("python3")
        .args(["-c", PYTHON_CHECK])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be on PATH for this test");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(serde_json::to_string(&cases).expect("cases json").as_bytes())
        .expect("feeding python");
    let output = child.wait_with_output().expect("python finishes");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "python check failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(&format!("checked {} bad 0", cases.len())), "{stdout}");
}
