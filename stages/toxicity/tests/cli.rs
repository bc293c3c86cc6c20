//! The `toxicity` binary as a user runs it: the stage on JSON lines, and the start-up errors a
//! broken set-up gives (no ONNX Runtime library, CUDA asked for where it cannot be registered).

use std::io::Write;
use std::process::{Command, Stdio};

fn toxicity(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_toxicity"));
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_stage_scores_lines_and_names_bad_ones() {
    // A routed model routes by `language`; the embedded default (English, one key) ignores it.
    let input = "{\"text\": \"you are a stupid idiot\", \"id\": 1, \"language\": \"English\"}\n{\"text\": \"thank you for the recipe\", \"language\": \"English\"}\nnot json\n{\"no_text\": 1}\n{\"text\": \"\"}\n{\"text\": \"Danke für das Rezept\"}\n";
    let (code, stdout, stderr) = toxicity(&["score"], input, &[]);
    assert_eq!(code, 1, "bad lines make the exit status non-zero: {stderr}");
    assert!(stderr.contains("stdin line 3: invalid json"), "{stderr}");
    assert!(stderr.contains("stdin line 4: missing string field text"), "{stderr}");
    assert!(stderr.contains("2 input line(s) could not be processed"), "{stderr}");
    let lines: Vec<serde_json::Value> = stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 4, "the good lines all come out, in order");
    assert_eq!(lines[0]["id"], 1, "input fields are kept");
    assert_eq!(lines[0]["toxic"], true);
    assert!(lines[0]["scores"]["toxicity"].as_f64().unwrap() > 0.5);
    assert!(lines[0]["scores"]["insult"].is_null(), "keys the model lacks are null");
    assert_eq!(lines[1]["toxic"], false);
    assert!(lines[1]["scores"]["toxicity"].as_f64().unwrap() < 0.1);
    assert_eq!(lines[2]["toxic"], false, "empty content is never toxic");
    assert!(lines[2]["scores"]["toxicity"].is_null(), "empty content is not scored");
    assert_eq!(lines[3]["toxic"], false);
}

#[test]
fn a_missing_runtime_library_is_a_start_up_error_naming_the_fix() {
    let (code, _, stderr) = toxicity(
        &["score"],
        "",
        &[("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so.1.31.1")],
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("/nonexistent/libonnxruntime.so.1.31.1 does not exist"),
        "{stderr}"
    );
    assert!(stderr.contains("infra/dev/setup.sh"), "{stderr}");
}

#[test]
fn cuda_that_cannot_be_registered_fails_instead_of_falling_back() {
    // The CPU build of ONNX Runtime the set-up installs has no CUDA provider.
    let (code, stdout, stderr) = toxicity(&["score", "--device", "cuda"], "{\"text\": \"hello\"}\n", &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty(), "nothing is scored on the CPU instead");
    assert!(
        stderr.contains("the CUDA execution provider cannot be registered"),
        "{stderr}"
    );
    let (code, _, stderr) = toxicity(&["score", "--device", "gpu"], "", &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("expected cpu, cuda or cuda:N"), "{stderr}");
}
