//! The command line of DESIGN §9, form by form, as a user types it: every documented coordinator
//! and worker form that exists is run once and must do what its line says (exit status, the
//! last line, the files it names); flags that a form lists but cannot use fail with a message
//! instead of being ignored; the coordinator's config file sits between defaults and the
//! environment.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use e2e_tests::{binary, coordinator_command, last_line, TEST_SALT_HEX};

fn run(mut command: Command) -> Output {
    command
        .env_remove("WILDCHAT__STORE")
        .env_remove("WILDCHAT__CONFIG")
        .env_remove("WILDCHAT__WORKERS")
        .output()
        .expect("the binary starts")
}

fn coordinator(args: &[&str]) -> Output {
    let mut command = coordinator_command();
    command.args(args);
    run(command)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

fn assert_ok(output: &Output, form: &str) {
    assert!(
        output.status.success(),
        "{form} failed: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
}

fn worker_stage(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(binary("worker"))
        .args(args)
        .env("WILDCHAT__IP_SALT", TEST_SALT_HEX)
        .env_remove("WILDCHAT__GEOIP")
        .env_remove("WILDCHAT__IP_SALT_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the worker");
    // A worker that refuses its arguments exits without reading stdin: a broken pipe is its
    // answer, which the caller checks.
    if let Err(error) = child.stdin.take().unwrap().write_all(input.as_bytes()) {
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "{error}");
    }
    child.wait_with_output().unwrap()
}

const GEO_DATABASE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/geo/GeoLite2-City-Test.mmdb");

#[test]
fn every_documented_coordinator_form_runs() {
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    let store_arg = store.to_str().unwrap();

    // coordinator generate --conversations N --seed S --store URI
    assert_ok(
        &coordinator(&[
            "generate",
            "--conversations",
            "150",
            "--seed",
            "4",
            "--store",
            store_arg,
        ]),
        "generate",
    );
    assert!(store.join("raw").is_dir() && store.join("truth/summary.json").is_file());

    // coordinator run --store URI [--queue embedded] [--workers N] --version V
    let ran = coordinator(&[
        "run",
        "--store",
        store_arg,
        "--queue",
        "embedded",
        "--workers",
        "2",
        "--version",
        "v1",
        "--quiet",
    ]);
    assert_ok(&ran, "run");
    assert_eq!(last_line(&ran), format!("{store_arg}/releases/v1"));
    assert!(store.join("releases/v1/manifest.json").is_file());

    // coordinator status [RUN_ID]
    let status = coordinator(&["status", "v1", "--store", store_arg]);
    assert_ok(&status, "status v1");
    assert!(text(&status.stdout).contains("v1"), "{}", text(&status.stdout));
    assert_ok(&coordinator(&["status", "--store", store_arg]), "status");

    // coordinator runs list | runs gc [--older-than D]: the run committed and deleted its
    // private intermediates, so there is nothing to collect.
    let runs = coordinator(&["runs", "list", "--store", store_arg]);
    assert_ok(&runs, "runs list");
    assert!(
        text(&runs.stdout).contains("committed") && text(&runs.stdout).contains("no private intermediates"),
        "{}",
        text(&runs.stdout)
    );
    let gc = coordinator(&["runs", "gc", "--store", store_arg, "--older-than", "30d"]);
    assert_ok(&gc, "runs gc");
    assert!(text(&gc.stdout).contains("nothing to delete"), "{}", text(&gc.stdout));
    let bad_age = coordinator(&["runs", "gc", "--store", store_arg, "--older-than", "30"]);
    assert!(!bad_age.status.success() && text(&bad_age.stderr).contains("30d, 12h, 90m or 45s"));

    // coordinator fleet --queue redis://...: an in-process queue has no fleet to report on.
    let fleet = coordinator(&["fleet", "--queue", "memory"]);
    assert!(!fleet.status.success());
    assert!(
        text(&fleet.stderr).contains("a shared queue"),
        "{}",
        text(&fleet.stderr)
    );

    // coordinator release list | show V | verify V | diff A B
    for form in [
        vec!["list"],
        vec!["show", "v1"],
        vec!["verify", "v1"],
        vec!["diff", "v1", "v1"],
    ] {
        let mut args = vec!["release"];
        args.extend(form.iter().copied());
        args.extend(["--store", store_arg]);
        assert_ok(&coordinator(&args), &args.join(" "));
    }

    // coordinator release amend V --remove FILE --version NEW, promote V --channel C, rollback --channel C
    let removal = directory.path().join("takedown.txt");
    std::fs::write(
        &removal,
        "# a takedown request for a conversation this release does not hold\n00000000000000000000000000000000\n",
    )
    .unwrap();
    assert_ok(
        &coordinator(&[
            "release",
            "amend",
            "v1",
            "--remove",
            removal.to_str().unwrap(),
            "--version",
            "v1.1",
            "--store",
            store_arg,
        ]),
        "release amend",
    );
    assert!(store.join("releases/v1.1/manifest.json").is_file());
    for version in ["v1", "v1.1"] {
        assert_ok(
            &coordinator(&[
                "release",
                "promote",
                version,
                "--channel",
                "stable",
                "--store",
                store_arg,
            ]),
            "release promote",
        );
    }
    let rolled_back = coordinator(&["release", "rollback", "--channel", "stable", "--store", store_arg]);
    assert_ok(&rolled_back, "release rollback");
    assert!(
        text(&rolled_back.stdout).starts_with("channel stable -> v1 "),
        "{}",
        text(&rolled_back.stdout)
    );

    // coordinator demo [--conversations N] [--store DIR]: the last line is the release directory.
    let demo_store = directory.path().join("demo");
    let demo = coordinator(&[
        "demo",
        "--conversations",
        "100",
        "--store",
        demo_store.to_str().unwrap(),
    ]);
    assert_ok(&demo, "demo");
    let release_directory = last_line(&demo);
    assert!(
        release_directory.starts_with(demo_store.to_str().unwrap()),
        "{release_directory}"
    );
    assert!(
        Path::new(&release_directory).join("manifest.json").is_file(),
        "{release_directory}"
    );

    // Every coordinator command takes --store; release has no silent default.
    let no_store = coordinator(&["release", "list"]);
    assert!(!no_store.status.success());
    assert!(
        text(&no_store.stderr).contains("no store given"),
        "{}",
        text(&no_store.stderr)
    );
}

#[test]
fn the_coordinator_config_file_sits_between_defaults_and_the_environment() {
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    let other = directory.path().join("other");
    let store_arg = store.to_str().unwrap();
    assert_ok(
        &coordinator(&["generate", "--conversations", "60", "--seed", "9", "--store", store_arg]),
        "generate",
    );
    let config = directory.path().join("coordinator.toml");
    std::fs::write(
        &config,
        format!("store = {store_arg:?}\nworkers = 1\nlicense = \"cc-by-4.0\"\n"),
    )
    .unwrap();

    // The file alone names the store and the card's licence.
    let ran = coordinator(&[
        "--config",
        config.to_str().unwrap(),
        "run",
        "--version",
        "from-file",
        "--quiet",
    ]);
    assert_ok(&ran, "run with --config");
    let card = std::fs::read_to_string(store.join("releases/from-file/README.md")).unwrap();
    assert!(card.contains("cc-by-4.0"), "the file's licence reaches the card");

    // The environment beats the file; a flag beats both.
    let mut command = coordinator_command();
    command
        .args(["release", "list", "--config", config.to_str().unwrap()])
        .env("WILDCHAT__STORE", other.to_str().unwrap());
    let listed = command.env_remove("WILDCHAT__CONFIG").output().unwrap();
    assert_ok(&listed, "release list with the environment's store");
    assert!(
        text(&listed.stdout).contains("no releases in"),
        "{}",
        text(&listed.stdout)
    );
    let mut command = coordinator_command();
    command
        .args([
            "release",
            "list",
            "--config",
            config.to_str().unwrap(),
            "--store",
            store_arg,
        ])
        .env("WILDCHAT__STORE", other.to_str().unwrap());
    let listed = command.env_remove("WILDCHAT__CONFIG").output().unwrap();
    assert!(text(&listed.stdout).contains("from-file"), "{}", text(&listed.stdout));

    // WILDCHAT__CONFIG names the file too; a misspelt key is named, with the keys that exist.
    std::fs::write(&config, "stor = \"x\"\n").unwrap();
    let mut command = coordinator_command();
    command
        .args(["release", "list"])
        .env("WILDCHAT__CONFIG", config.to_str().unwrap());
    let refused = command.env_remove("WILDCHAT__STORE").output().unwrap();
    assert!(!refused.status.success());
    let message = text(&refused.stderr);
    assert!(
        message.contains("unknown key \"stor\"") && message.contains("store"),
        "{message}"
    );
}

#[test]
fn every_documented_worker_form_parses_and_stage_flags_are_never_ignored() {
    // worker --store URI --queue redis://HOST:PORT [--device cpu|cuda] (and `worker run ...`):
    // with nothing listening, the worker gets past its flags and fails on the queue.
    let directory = tempfile::tempdir().unwrap();
    let store_arg = directory.path().to_str().unwrap();
    for prefix in [&[][..], &["run"][..]] {
        let mut args: Vec<&str> = prefix.to_vec();
        args.extend([
            "--store",
            store_arg,
            "--queue",
            "redis://127.0.0.1:9",
            "--device",
            "cpu",
        ]);
        let mut command = Command::new(binary("worker"));
        command.args(&args).env("WILDCHAT__IP_SALT", TEST_SALT_HEX);
        let output = run(command);
        let message = text(&output.stderr);
        assert!(!output.status.success(), "no queue is listening");
        assert!(
            !message.contains("unexpected argument") && !message.contains("Usage:"),
            "worker {args:?} must parse: {message}"
        );
    }

    // worker stage language | toxicity | pii | geo < in.jsonl > out.jsonl
    let text_line = "{\"text\": \"The weather is lovely today, shall we walk by the river?\"}\n";
    let language = worker_stage(&["stage", "language"], text_line);
    assert_ok(&language, "stage language");
    assert!(
        text(&language.stdout).contains("\"language\":\"English\""),
        "{}",
        text(&language.stdout)
    );
    let toxicity = worker_stage(&["stage", "toxicity", "--device", "cpu"], text_line);
    assert_ok(&toxicity, "stage toxicity");
    assert!(text(&toxicity.stdout).contains("\"toxic\""));
    let pii = worker_stage(&["stage", "pii"], "{\"text\": \"mail me at jane.doe@example.com\"}\n");
    assert_ok(&pii, "stage pii");
    assert!(text(&pii.stdout).contains("redacted_text"));

    // A flag a stage has no use for is refused with its name, not ignored.
    for (args, flag) in [
        (vec!["stage", "language", "--geoip", GEO_DATABASE], "--geoip"),
        (vec!["stage", "language", "--device", "cpu"], "--device"),
        (vec!["stage", "toxicity", "--salt-file", "/nonexistent"], "--salt-file"),
        (
            vec!["stage", "geo", "--geoip", GEO_DATABASE, "--device", "cpu"],
            "--device",
        ),
    ] {
        let refused = worker_stage(&args, text_line);
        assert!(!refused.status.success(), "{args:?}");
        let message = text(&refused.stderr);
        assert!(
            message.contains(&format!("{flag} does not apply to the")),
            "{args:?}: {message}"
        );
    }

    // stage geo --config FILE reads the geoip and ip_salt_file keys of a `worker run` settings file.
    let salt_file = directory.path().join("salt.hex");
    std::fs::write(&salt_file, TEST_SALT_HEX).unwrap();
    let settings = directory.path().join("worker.toml");
    std::fs::write(
        &settings,
        format!(
            "store = \"s3://ignored/here\"\ngeoip = [{:?}]\nip_salt_file = {:?}\n",
            GEO_DATABASE,
            salt_file.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut child = Command::new(binary("worker"))
        .args(["stage", "geo", "--config", settings.to_str().unwrap()])
        .env_remove("WILDCHAT__IP_SALT")
        .env_remove("WILDCHAT__GEOIP")
        .env_remove("WILDCHAT__IP_SALT_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"ip\": \"81.2.69.142\"}\n")
        .unwrap();
    let geo = child.wait_with_output().unwrap();
    assert_ok(&geo, "stage geo --config");
    let annotated: serde_json::Value = serde_json::from_slice(&geo.stdout).unwrap();
    assert_eq!(annotated["country"], "United Kingdom");
    assert_eq!(annotated["hashed_ip"].as_str().map(str::len), Some(64));
    assert!(Path::new(GEO_DATABASE).is_file());
}
