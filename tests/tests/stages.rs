//! `worker stage ...`: single stages over JSON lines, as DESIGN §9 specifies them.

use std::io::Write;
use std::process::{Command, Stdio};

use e2e_tests::binary;

/// A valid (16-byte) salt for the stages that read one; its value does not matter here.
const STAGE_SALT: &str = "000102030405060708090a0b0c0d0e0f";

fn run_stage(args: &[&str], input: &str, salt_hex: &str) -> (i32, String, String) {
    let mut child = Command::new(binary("worker"))
        .args(args)
        .env("WILDCHAT__IP_SALT", salt_hex)
        .env_remove("WILDCHAT__GEOIP")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the worker");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

fn python_hash(salt_hex: &str, ip: &str) -> String {
    let output = Command::new("python3")
        .args([
            "-c",
            "import hashlib,sys; print(hashlib.sha256(bytes.fromhex(sys.argv[1]) + sys.argv[2].encode()).hexdigest())",
            salt_hex,
            ip,
        ])
        .output()
        .expect("python3 is installed");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[test]
fn geo_stage_annotates_each_line_and_reports_bad_lines() {
    let database = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/geo/GeoLite2-City-Test.mmdb");
    assert!(
        std::path::Path::new(database).exists(),
        "vendored test data missing at {database}"
    );
    let salt = "0011aabbccddeeff0011aabbccddeeff";
    let input = concat!(
        "{\"ip\": \"81.2.69.142\", \"date\": \"2023-01-01 00:00:00\", \"keep\": 1}\n",
        "{\"ip\": \"::ffff:81.2.69.142\"}\n",
        "{\"ip\": \"10.0.0.1\", \"date\": \"2023-01-01T00:00:00Z\"}\n",
        "not json\n",
        "{\"date\": \"2023-01-01\"}\n",
    );
    let (code, stdout, stderr) = run_stage(&["stage", "geo", "--geoip", database], input, salt);
    assert_eq!(code, 1, "bad lines make the exit status non-zero: {stderr}");
    assert!(stderr.contains("stdin line 4: invalid json"), "{stderr}");
    assert!(stderr.contains("stdin line 5: missing string field ip"), "{stderr}");
    let lines: Vec<serde_json::Value> = stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["country"], "United Kingdom");
    assert_eq!(lines[0]["state"], "England");
    assert_eq!(lines[0]["keep"], 1);
    assert_eq!(lines[0]["hashed_ip"], python_hash(salt, "81.2.69.142"));
    assert_eq!(lines[1]["country"], "United Kingdom");
    assert_eq!(lines[2]["country"], serde_json::Value::Null);
    assert_eq!(lines[2]["state"], serde_json::Value::Null);
    assert!(!stdout.contains(salt) && !stderr.contains(salt));
}

#[test]
fn geo_stage_refuses_a_broken_database_at_start_up() {
    let database = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/geo/GeoIP2-City-Test-Broken-Double-Format.mmdb"
    );
    let (code, stdout, stderr) = run_stage(
        &["stage", "geo", "--geoip", database],
        "{\"ip\": \"1.2.3.4\"}\n",
        STAGE_SALT,
    );
    assert_ne!(code, 0);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("GeoIP2-City-Test-Broken-Double-Format.mmdb"),
        "{stderr}"
    );
}

#[test]
fn language_stage_labels_each_text_and_reports_bad_lines() {
    let input = concat!(
        "{\"text\": \"Could you please explain how photosynthesis works in plants?\", \"id\": 7}\n",
        "{\"text\": \"请帮我写一篇关于环境保护的文章\"}\n",
        "{\"text\": \"   \"}\n",
        "[1, 2]\n",
        "{\"text\": 5}\n",
    );
    let (code, stdout, stderr) = run_stage(&["stage", "language"], input, STAGE_SALT);
    assert_eq!(code, 1, "bad lines make the exit status non-zero: {stderr}");
    assert!(stderr.contains("stdin line 4: line is not a json object"), "{stderr}");
    assert!(stderr.contains("stdin line 5: missing string field text"), "{stderr}");
    let lines: Vec<serde_json::Value> = stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["language"], "English");
    assert_eq!(lines[0]["id"], 7, "input fields are kept");
    assert_eq!(lines[1]["language"], "Chinese");
    assert_eq!(lines[2]["language"], "Nolang");
}

#[test]
fn toxicity_stage_scores_each_text_with_the_configured_model() {
    let input = concat!(
        "{\"text\": \"shut up you stupid moron\", \"id\": 3, \"language\": \"English\"}\n",
        "{\"text\": \"Could you please explain how photosynthesis works in plants?\"}\n",
        "{\"text\": 5}\n",
    );
    // The embedded default routes by the line's `language`: English to the English model (only
    // `toxicity`), unlabelled lines to the multilingual model (no `severe_toxicity` head).
    let (code, stdout, stderr) = run_stage(&["stage", "toxicity"], input, STAGE_SALT);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("stdin line 3: missing string field text"), "{stderr}");
    let lines: Vec<serde_json::Value> = stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (lines[0]["id"].clone(), lines[0]["toxic"].clone()),
        (3.into(), true.into())
    );
    assert!(lines[0]["scores"]["threat"].is_null());
    assert_eq!(lines[1]["toxic"], false);
    assert!(lines[1]["scores"]["severe_toxicity"].is_null());
    assert!(lines[1]["scores"]["threat"].is_f64());

    // A transformer config fills every key.
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/toxicity/tiny-bert/config.toml");
    let (code, stdout, stderr) = run_stage(
        &["stage", "toxicity", "--config", config.to_str().unwrap()],
        "{\"text\": \"hello there\"}\n",
        STAGE_SALT,
    );
    assert_eq!(code, 0, "{stderr}");
    let line: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    for key in toxicity::DETOXIFY_KEYS {
        assert!(line["scores"][key].is_f64(), "{key}: {line}");
    }

    // A config naming a missing model stops at start-up and says which file.
    let directory = tempfile::tempdir().unwrap();
    let broken = directory.path().join("broken.toml");
    std::fs::write(&broken, "kind = \"linear\"\nmodel = \"missing.onnx\"\n").unwrap();
    let (code, stdout, stderr) = run_stage(
        &["stage", "toxicity", "--config", broken.to_str().unwrap()],
        "",
        STAGE_SALT,
    );
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(stderr.contains("missing.onnx"), "{stderr}");
}

#[test]
fn pii_stage_reports_spans_and_redacts_by_policy() {
    let key = ["sk-proj-", "T3BlbkFJ", "q8Zr2LmXw7VtN4sKdP9cYbHgE1uFjA6o"].concat();
    let lines = [
        serde_json::json!({"text": "Call me on my phone: +1 415 555 0132 or write to jane.roe@mailbox.org", "language": "English"}),
        serde_json::json!({"text": "my name is Jane Roe", "language": "English"}),
        serde_json::json!({"text": format!("here is my key {key} thanks"), "language": "Hindi"}),
        serde_json::json!({"text": "电话 +86 138 0013 8000", "language": "Hindi"}),
    ];
    let input = lines.iter().map(|line| line.to_string()).collect::<Vec<_>>().join("\n") + "\nnot json\n";
    let (code, stdout, stderr) = run_stage(&["stage", "pii"], &input, STAGE_SALT);
    assert_eq!(code, 1, "one bad line fails the exit status: {stderr}");
    assert!(stderr.contains("stdin line 5"), "{stderr}");
    let out: Vec<serde_json::Value> = stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(out.len(), 4);

    let first = &out[0];
    let types: Vec<&str> = first["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|span| span["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["PHONE_NUMBER", "EMAIL_ADDRESS"]);
    let phone = &first["spans"][0];
    let text = first["text"].as_str().unwrap();
    let chars: Vec<char> = text.chars().collect();
    let phone_text: String = chars[phone["start"].as_u64().unwrap() as usize..phone["end"].as_u64().unwrap() as usize]
        .iter()
        .collect();
    assert_eq!(phone_text, "+1 415 555 0132");
    assert_eq!(
        first["redacted_text"],
        "Call me on my phone: <PRESIDIO_ANONYMIZED_PHONE_NUMBER> or write to <PRESIDIO_ANONYMIZED_EMAIL_ADDRESS>"
    );
    assert_eq!(first["redacted"], true);
    // A self-introduction in an English turn: the name is redacted.
    assert_eq!(out[1]["redacted_text"], "my name is <PRESIDIO_ANONYMIZED_PERSON>");
    // Secrets are replaced in every language; other PII only in the ten analysed ones.
    assert_eq!(
        out[2]["redacted_text"],
        "here is my key <SECRET_REDACTED_OPENAI_API_KEY> thanks"
    );
    assert_eq!(out[3]["redacted"], false);
    assert_eq!(out[3]["spans"].as_array().unwrap().len(), 0);

    // The strict policy from a config file masks every email, whatever its context.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("strict.toml");
    std::fs::write(
        &config,
        "policy = \"strict\"\ntypes = [\"EMAIL_ADDRESS\"]\noperator = \"mask\"\n",
    )
    .unwrap();
    let (code, stdout, stderr) = run_stage(
        &["stage", "pii", "--config", config.to_str().unwrap()],
        &(lines[0].to_string() + "\n"),
        STAGE_SALT,
    );
    assert_eq!(code, 0, "{stderr}");
    let strict: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let masked = format!(
        "Call me on my phone: +1 415 555 0132 or write to {}",
        "*".repeat("jane.roe@mailbox.org".len())
    );
    assert_eq!(strict["redacted_text"], masked.as_str());
}
