//! A fuzz harness on stable Rust for the code that reads untrusted input at scale: the raw-row
//! reader (`shared::raw::parse_raw_line`), the Python-literal parser
//! (`shared::pyrepr::parse_python_literal`, which reads `headers` logged as a dict `repr`) and
//! linking (`link::link_rows`, over rows that parsed).
//!
//! A seeded mutation loop, no coverage feedback: each input is a seed (real conversations from
//! `testdata/conversations` in the raw log's shape, plus malformed rows and Python literals)
//! changed by one to four mutations: truncation, bit flips, byte insertion and deletion,
//! splicing two inputs, deep nesting, huge numbers, invalid UTF-8, lone surrogate escapes and
//! enormous header values. A target that panics is a finding; the input is kept for a
//! regression test (`fuzz/regressions/`). Inputs are capped at [`MAX_INPUT_BYTES`], so memory
//! stays bounded however long it runs.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

/// The largest input the mutator makes (an enormous header is about this big).
pub const MAX_INPUT_BYTES: usize = 2 << 20;

/// Rows fed to one linking call.
const LINK_BATCH: usize = 64;

/// Which parser an input went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    RawRow,
    PythonLiteral,
    Link,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::RawRow => "raw-row",
            Target::PythonLiteral => "python-literal",
            Target::Link => "link",
        }
    }
}

/// A panic and the input that caused it.
#[derive(Debug, Clone)]
pub struct Finding {
    pub target: Target,
    pub message: String,
    /// For [`Target::Link`], the rows' lines joined by newlines.
    pub input: Vec<u8>,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub inputs: u64,
    pub raw_rows: u64,
    pub rows_accepted: u64,
    pub rows_rejected: u64,
    pub python_literals: u64,
    pub literals_accepted: u64,
    pub link_batches: u64,
    pub conversations_linked: u64,
    pub largest_input: usize,
    pub elapsed: Duration,
    pub findings: Vec<Finding>,
}

/// Seed inputs, one byte string each.
pub type Seeds = Vec<Vec<u8>>;

/// The seed inputs: raw rows built from the real conversations under `testdata` (MT-bench
/// questions and the dummy conversations, each turn a row whose history holds the earlier
/// turns, with headers as a JSON object or as a Python `repr`), malformed rows, and Python
/// literals in the shapes `headers` takes.
pub fn seed_corpus(testdata: &Path) -> anyhow::Result<(Seeds, Seeds)> {
    let mut conversations: Vec<Vec<String>> = Vec::new();
    let mt_bench = std::fs::read_to_string(testdata.join("conversations/mt_bench.question.jsonl"))?;
    for line in mt_bench.lines().take(40) {
        let value: serde_json::Value = serde_json::from_str(line)?;
        let turns = value["turns"]
            .as_array()
            .map(|turns| {
                turns
                    .iter()
                    .filter_map(|turn| turn.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        conversations.push(turns);
    }
    let dummy: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        testdata.join("conversations/dummy_conversation.json"),
    )?)?;
    for conversation in dummy.as_array().into_iter().flatten().take(40) {
        let turns = conversation["conversations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|turn| turn["value"].as_str().map(str::to_string))
            .collect();
        conversations.push(turns);
    }

    let mut rows = Vec::new();
    for (number, turns) in conversations.iter().enumerate() {
        let mut messages = Vec::new();
        for (turn, text) in turns.iter().enumerate() {
            let id = (number * 100 + turn) as i64;
            messages.push(json!({"role": "user", "content": text}));
            let headers = if number % 2 == 0 {
                json!({"user-agent": "Mozilla/5.0 (X11; Linux x86_64)", "accept-language": "en-US,en;q=0.9",
                       "x-forwarded-for": format!("203.0.113.{}, 10.0.0.1", number % 250)})
            } else {
                serde_json::Value::String(format!(
                    "{{'host': 'example.hf.space', 'user-agent': \"Mozilla/5.0 (it's)\", 'accept-language': 'de-DE', \
                     'x-forwarded-for': '2001:db8::{number:x}', 'x-numbers': [1, 2.5, -3e10, None, True]}}"
                ))
            };
            let date = if turn % 2 == 0 {
                json!(format!(
                    "2023-04-{:02} 10:{:02}:{:02}.250000",
                    1 + number % 28,
                    turn % 60,
                    number % 60
                ))
            } else {
                json!(1_680_998_573 + (number * 1000 + turn * 10) as i64)
            };
            let row = json!({
                "id": id,
                "date": date,
                "text": {
                    "payload": {"model": "gpt-3.5-turbo", "messages": messages.clone()},
                    "partial_words": format!("reply {turn} to conversation {number}"),
                    "model": "gpt-3.5-turbo-0301",
                    "headers": headers,
                },
            });
            rows.push(row.to_string().into_bytes());
            messages.push(json!({"role": "assistant", "content": format!("reply {turn} to conversation {number}")}));
        }
    }
    for malformed in [
        &b"not json {"[..],
        b"[1, 2]",
        b"{}",
        br#"{"id": 1, "date": "yesterday", "text": {}}"#,
        br#"{"id": 1, "date": 1681000000, "text": "{\"payload\": {\"messages\": []}}"}"#,
        br#"{"id": 3, "date": 1681000000, "text": {"payload": {"messages": [{"role": "user", "content": "a\ud800b"}]}, "partial_words": "ok", "model": "m", "headers": {"x-forwarded-for": "2001:db8::1"}}}"#,
        br#"{"id": 9, "date": 1681000000, "text": {"payload": {"messages": [{"role": "user", "content": [1]}]}, "model": "m", "headers": "{'user-agent': __import__('os')}"}}"#,
    ] {
        rows.push(malformed.to_vec());
    }

    let literals = [
        "{'user-agent': 'Mozilla/5.0', 'x-forwarded-for': '1.2.3.4, 5.6.7.8'}",
        "{\"a\": b'bytes', 'b': r'raw\\d', 'c': u'uni', 'd': '\\x41\\u00e9\\U0001F600\\N{BULLET}'}",
        "[1, -2, 3.5e-7, 0x1F, 0o17, 0b101, 1_000_000, inf, -0.0, (1,), (), {1, 2}, frozenset()]",
        "{'nested': {'deeper': [{'x': None, 'y': True, 'z': False}]}, 'empty': {}}",
        "'''triple\nquoted''' 'implicit' \"concatenation\"",
        "{'k': 1,}",
        "f'no' + 1",
    ];
    let literals = literals.iter().map(|literal| literal.as_bytes().to_vec()).collect();
    Ok((rows, literals))
}

/// Makes inputs from the seeds.
pub struct Mutator {
    rng: ChaCha8Rng,
}

impl Mutator {
    pub fn new(seed: u64) -> Mutator {
        Mutator {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// A seed changed by one to four mutations; `pool` supplies splice partners.
    pub fn mutate(&mut self, seed: &[u8], pool: &[Vec<u8>]) -> Vec<u8> {
        let mut input = seed.to_vec();
        let rounds = self.rng.random_range(1..=4);
        for _ in 0..rounds {
            self.mutate_once(&mut input, pool);
        }
        input.truncate(MAX_INPUT_BYTES);
        input
    }

    fn position(&mut self, input: &[u8]) -> usize {
        self.rng.random_range(0..=input.len())
    }

    fn mutate_once(&mut self, input: &mut Vec<u8>, pool: &[Vec<u8>]) {
        match self.rng.random_range(0..100) {
            // Truncation.
            0..=9 => {
                let at = self.position(input);
                input.truncate(at);
            }
            // Bit flips.
            10..=29 => {
                for _ in 0..self.rng.random_range(1..=8) {
                    if input.is_empty() {
                        break;
                    }
                    let at = self.rng.random_range(0..input.len());
                    input[at] ^= 1 << self.rng.random_range(0..8);
                }
            }
            // An interesting byte or token inserted.
            30..=49 => {
                const TOKENS: &[&[u8]] = &[
                    b"{",
                    b"}",
                    b"[",
                    b"]",
                    b"\"",
                    b"'",
                    b"\\",
                    b",",
                    b":",
                    b"\\u",
                    b"\\ud800",
                    b"\\udfff",
                    b"\\ud83d\\ude00",
                    b"\xff",
                    b"\xc0\x80",
                    b"\xed\xa0\x80",
                    b"\x00",
                    b"\n",
                    b"\r",
                    b"None",
                    b"True",
                    b"nan",
                    b"-",
                    b"e",
                    b"1e999999",
                    b"-1e-999999",
                    b"99999999999999999999999999",
                    b"0x",
                    b"b'",
                    b"r'",
                    b"f'",
                    b"(",
                    b")",
                    b"\\N{",
                    b"\\x",
                    b"'''",
                ];
                let token = TOKENS[self.rng.random_range(0..TOKENS.len())];
                let at = self.position(input);
                input.splice(at..at, token.iter().copied());
            }
            // A run of bytes deleted.
            50..=59 => {
                if !input.is_empty() {
                    let start = self.rng.random_range(0..input.len());
                    let end = (start + self.rng.random_range(1..=16)).min(input.len());
                    input.drain(start..end);
                }
            }
            // Splice: the head of this input and the tail of another.
            60..=69 => {
                if let Some(other) = pool.get(self.rng.random_range(0..pool.len().max(1))) {
                    let at = self.position(input);
                    let from = self.rng.random_range(0..=other.len());
                    input.truncate(at);
                    input.extend_from_slice(&other[from..]);
                }
            }
            // Deep nesting at some point.
            70..=77 => {
                let depth = self.rng.random_range(1..=20_000);
                let (open, close): (&[u8], &[u8]) = match self.rng.random_range(0..4) {
                    0 => (b"[", b"]"),
                    1 => (b"{\"a\":", b"}"),
                    2 => (b"{'a': ", b"}"),
                    _ => (b"(", b",)"),
                };
                let at = self.position(input);
                let mut nested = Vec::with_capacity(depth * (open.len() + close.len()) + 1);
                for _ in 0..depth {
                    nested.extend_from_slice(open);
                }
                nested.push(b'1');
                if self.rng.random_bool(0.5) {
                    for _ in 0..depth {
                        nested.extend_from_slice(close);
                    }
                }
                input.splice(at..at, nested);
            }
            // A number replaced by a huge one.
            78..=85 => {
                if let Some(at) = input.iter().position(u8::is_ascii_digit) {
                    const HUGE: &[&[u8]] = &[
                        b"1e400",
                        b"-1e400",
                        b"18446744073709551616",
                        b"-9223372036854775809",
                        b"123456789012345678901234567890123456789",
                        b"1.7976931348623157e309",
                        b"0.0000000000000000000000000000000000000000001",
                    ];
                    let huge = HUGE[self.rng.random_range(0..HUGE.len())];
                    input.splice(at..at + 1, huge.iter().copied());
                }
            }
            // An enormous value: a header (or any string) repeated.
            86..=88 => {
                let length = self.rng.random_range(1_000..=MAX_INPUT_BYTES / 2);
                let filler: &[u8] = match self.rng.random_range(0..3) {
                    0 => b"Mozilla/5.0 ",
                    1 => b"1.2.3.4, ",
                    _ => b"\\u00e9",
                };
                let at = input
                    .windows(12)
                    .position(|window| window == b"Mozilla/5.0 ")
                    .unwrap_or_else(|| self.position(input));
                let mut value = Vec::with_capacity(length);
                while value.len() < length {
                    value.extend_from_slice(filler);
                }
                input.splice(at..at, value);
            }
            // Invalid UTF-8 and lone surrogate escapes.
            _ => {
                const BAD: &[&[u8]] = &[
                    b"\xff\xfe",
                    b"\x80",
                    b"\xf4\x90\x80\x80",
                    b"\\ud800",
                    b"\\udc00x",
                    b"\\uD834",
                ];
                let bad = BAD[self.rng.random_range(0..BAD.len())];
                let at = self.position(input);
                input.splice(at..at, bad.iter().copied());
            }
        }
    }

    fn pick<'a>(&mut self, pool: &'a [Vec<u8>]) -> &'a [u8] {
        &pool[self.rng.random_range(0..pool.len())]
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| text.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// Runs `inputs` inputs from `seed`: about 80 % raw rows, 15 % Python literals, the rest
/// batches of rows through linking. Panics are caught and reported, never propagated.
pub fn run(
    rows: &[Vec<u8>],
    literals: &[Vec<u8>],
    inputs: u64,
    seed: u64,
    mut progress: impl FnMut(&Report),
) -> Report {
    assert!(!rows.is_empty() && !literals.is_empty(), "the seed corpus is empty");
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let started = Instant::now();
    let mut mutator = Mutator::new(seed);
    let mut report = Report::default();
    let mut linkable: Vec<shared::raw::LinkRow> = Vec::with_capacity(LINK_BATCH);
    let mut linkable_lines: Vec<Vec<u8>> = Vec::with_capacity(LINK_BATCH);
    while report.inputs < inputs {
        report.inputs += 1;
        let choice = mutator.rng.random_range(0..100);
        if choice < 15 {
            let seed_input = mutator.pick(literals).to_vec();
            let input = mutator.mutate(&seed_input, literals);
            report.largest_input = report.largest_input.max(input.len());
            report.python_literals += 1;
            let text = String::from_utf8_lossy(&input);
            match catch_unwind(AssertUnwindSafe(|| shared::pyrepr::parse_python_literal(&text).is_ok())) {
                Ok(accepted) => report.literals_accepted += u64::from(accepted),
                Err(payload) => report.findings.push(Finding {
                    target: Target::PythonLiteral,
                    message: panic_message(payload.as_ref()),
                    input,
                }),
            }
        } else {
            // Lightly mutated rows mostly still parse, so linking sees real chains.
            let seed_input = mutator.pick(rows).to_vec();
            let input = if choice < 30 {
                seed_input
            } else {
                mutator.mutate(&seed_input, rows)
            };
            report.largest_input = report.largest_input.max(input.len());
            report.raw_rows += 1;
            match catch_unwind(AssertUnwindSafe(|| shared::raw::parse_raw_line(&input))) {
                Ok(Ok(parsed)) => {
                    report.rows_accepted += 1;
                    if input.len() < 64 << 10 {
                        linkable.push(parsed.row);
                        linkable_lines.push(input);
                    }
                }
                Ok(Err(rejection)) => {
                    report.rows_rejected += 1;
                    if rejection.detail.is_empty() {
                        report.findings.push(Finding {
                            target: Target::RawRow,
                            message: format!("rejected as {} without a detail", rejection.reason),
                            input,
                        });
                    }
                }
                Err(payload) => report.findings.push(Finding {
                    target: Target::RawRow,
                    message: panic_message(payload.as_ref()),
                    input,
                }),
            }
            if linkable.len() == LINK_BATCH {
                report.link_batches += 1;
                match catch_unwind(AssertUnwindSafe(|| link_and_check(&linkable))) {
                    Ok(Ok(conversations)) => report.conversations_linked += conversations,
                    Ok(Err(message)) => report.findings.push(Finding {
                        target: Target::Link,
                        message,
                        input: linkable_lines.join(&b'\n'),
                    }),
                    Err(payload) => report.findings.push(Finding {
                        target: Target::Link,
                        message: panic_message(payload.as_ref()),
                        input: linkable_lines.join(&b'\n'),
                    }),
                }
                linkable.clear();
                linkable_lines.clear();
            }
        }
        if report.inputs % 100_000 == 0 {
            report.elapsed = started.elapsed();
            progress(&report);
        }
    }
    report.elapsed = started.elapsed();
    std::panic::set_hook(previous_hook);
    report
}

/// Links `rows` and checks what linking promises: every row is in at most one conversation,
/// indices are in range, and conversations plus dropped rows account for every row.
pub fn link_and_check(rows: &[shared::raw::LinkRow]) -> Result<u64, String> {
    let linked = link::link_rows(rows);
    let mut seen = vec![false; rows.len()];
    let mut in_conversations = 0u64;
    for conversation in &linked.conversations {
        if conversation.is_empty() {
            return Err("an empty conversation".to_string());
        }
        for &index in conversation {
            let slot = seen
                .get_mut(index)
                .ok_or_else(|| format!("row index {index} out of range"))?;
            if *slot {
                return Err(format!("row {index} is in two conversations"));
            }
            *slot = true;
            in_conversations += 1;
        }
    }
    if in_conversations + linked.dropped_rows != rows.len() as u64 {
        return Err(format!(
            "{} rows in conversations and {} dropped, of {}",
            in_conversations,
            linked.dropped_rows,
            rows.len()
        ));
    }
    Ok(linked.conversations.len() as u64)
}

/// Replays one saved input (a regression): a raw row, a Python literal, or newline-separated
/// rows for linking; `Err` if a target panics or linking breaks its promises.
pub fn replay(target: Target, input: &[u8]) -> Result<(), String> {
    let outcome = catch_unwind(AssertUnwindSafe(|| match target {
        Target::RawRow => {
            let _ = shared::raw::parse_raw_line(input);
            Ok(())
        }
        Target::PythonLiteral => {
            let _ = shared::pyrepr::parse_python_literal(&String::from_utf8_lossy(input));
            Ok(())
        }
        Target::Link => {
            let rows: Vec<shared::raw::LinkRow> = input
                .split(|byte| *byte == b'\n')
                .filter_map(|line| shared::raw::parse_raw_line(line).ok())
                .map(|parsed| parsed.row)
                .collect();
            link_and_check(&rows).map(|_| ())
        }
    }));
    match outcome {
        Ok(result) => result,
        Err(payload) => Err(panic_message(payload.as_ref())),
    }
}
