//! The bounded fuzz run CI makes (the long one is `make fuzz`), and every saved finding
//! replayed as a regression test.

use std::path::Path;

fn testdata() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata"))
}

#[test]
fn twenty_thousand_fuzzed_inputs_cause_no_panic() {
    let (rows, literals) = fuzz::seed_corpus(testdata()).expect("the seed corpus");
    assert!(rows.len() > 100, "{} row seeds", rows.len());
    let report = fuzz::run(&rows, &literals, 20_000, 7, |_| {});
    assert_eq!(report.inputs, 20_000);
    // The mix reaches every target, and both outcomes of the row reader.
    assert!(
        report.rows_accepted > 1_000 && report.rows_rejected > 1_000,
        "{report:?}"
    );
    assert!(report.python_literals > 1_000 && report.link_batches > 10, "{report:?}");
    assert!(report.conversations_linked > 0);
    let findings: Vec<String> = report
        .findings
        .iter()
        .map(|finding| format!("{}: {}", finding.target.name(), finding.message))
        .collect();
    assert!(findings.is_empty(), "{findings:?}");
}

/// `fuzz/regressions/<target>-*.bin`: inputs that once broke a target.
#[test]
fn saved_findings_stay_fixed() {
    let directory = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/regressions"));
    for entry in std::fs::read_dir(directory).expect("the regressions folder") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let target = if name.starts_with("raw-row") {
            fuzz::Target::RawRow
        } else if name.starts_with("python-literal") {
            fuzz::Target::PythonLiteral
        } else if name.starts_with("link") {
            fuzz::Target::Link
        } else {
            continue;
        };
        let input = std::fs::read(&path).expect("a saved input");
        assert_eq!(fuzz::replay(target, &input), Ok(()), "{name}");
    }
}

/// The same seed makes the same inputs, so a finding can be reproduced from the command line.
#[test]
fn a_seed_reproduces_its_inputs() {
    let (rows, _) = fuzz::seed_corpus(testdata()).expect("the seed corpus");
    let make = |seed| {
        let mut mutator = fuzz::Mutator::new(seed);
        (0..200)
            .map(|index| mutator.mutate(&rows[index % rows.len()], &rows))
            .collect::<Vec<_>>()
    };
    assert_eq!(make(3), make(3));
    assert_ne!(make(3), make(4));
    assert!(make(3).iter().all(|input| input.len() <= fuzz::MAX_INPUT_BYTES));
}
