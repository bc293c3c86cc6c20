use super::*;
use serde_json::json;
use std::process::Command;

fn parse(source: &str) -> Value {
    parse_python_literal(source).unwrap_or_else(|e| panic!("{source:?} failed: {e}"))
}

fn err(source: &str) -> PyReprError {
    match parse_python_literal(source) {
        Ok(v) => panic!("{source:?} parsed as {v}"),
        Err(e) => e,
    }
}

#[test]
fn wildchat_header_dict() {
    let source = r#"{'host': 'x', 'user-agent': "Mozilla/5.0 (it's)", 'x-forwarded-for': '1.2.3.4, 10.0.0.1'}"#;
    let value = parse(source);
    assert_eq!(
        value,
        json!({"host": "x", "user-agent": "Mozilla/5.0 (it's)", "x-forwarded-for": "1.2.3.4, 10.0.0.1"})
    );
    let keys: Vec<&str> = value
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(keys, ["host", "user-agent", "x-forwarded-for"]);
}

#[test]
fn quote_styles_and_prefixes() {
    assert_eq!(parse("'a'"), json!("a"));
    assert_eq!(parse("\"a'b\""), json!("a'b"));
    assert_eq!(parse("'''a\n'b''c'''"), json!("a\n'b''c"));
    assert_eq!(parse("\"\"\"a\"b\"\"c\"\"\""), json!("a\"b\"\"c"));
    assert_eq!(parse("'''a\r\nb\rc'''"), json!("a\nb\nc"));
    assert_eq!(parse("u'x'"), json!("x"));
    assert_eq!(parse("U\"x\""), json!("x"));
    assert_eq!(parse(r"r'a\nb\''"), json!(r"a\nb\'"));
    assert_eq!(parse(r"R'\\'"), json!(r"\\"));
    assert_eq!(parse(r"b'\x41\xff\n'"), json!("A\u{ff}\n"));
    assert_eq!(parse(r"rb'\x41'"), json!(r"\x41"));
    assert_eq!(parse(r"bR'\x41'"), json!(r"\x41"));
    assert_eq!(parse(r"Br'\x41'"), json!(r"\x41"));
    assert_eq!(parse(r"b'\u0041\N{X}\777'"), json!("\\u0041\\N{X}\u{ff}"));
    assert_eq!(parse("''"), json!(""));
    assert_eq!(parse("''''''"), json!(""));
}

#[test]
fn escapes() {
    assert_eq!(
        parse(r#"'\\ \' \" \a \b \f \n \r \t \v'"#),
        json!("\\ ' \" \u{7} \u{8} \u{c} \n \r \t \u{b}")
    );
    assert_eq!(parse(r"'\0\08\101\1234\777'"), json!("\0\u{0}8AS4\u{1ff}"));
    assert_eq!(parse(r"'\x41\u00e9\U0001F600'"), json!("Aé😀"));
    assert_eq!(parse("'a\\\nb'"), json!("ab"));
    assert_eq!(parse("'a\\\r\nb'"), json!("ab"));
    assert_eq!(parse("r'a\\\r\nb'"), json!("a\\\nb"));
    assert_eq!(parse(r"'\8 \q \é'"), json!(r"\8 \q \é"));
    assert_eq!(parse(r"'a\ud800b\ud83d\ude00'"), json!("ab"));
    assert!(matches!(err(r"'\N{BULLET}'"), PyReprError::NamedEscape { offset: 1 }));
    assert_eq!(
        err(r"'\N{BULLET}'").to_string(),
        "named unicode escapes unsupported at offset 1"
    );
    assert!(matches!(err(r"'\x4'"), PyReprError::InvalidEscape { offset: 1, .. }));
    assert!(matches!(err(r"'\u12'"), PyReprError::InvalidEscape { .. }));
    assert!(matches!(err(r"'\U00110000'"), PyReprError::InvalidEscape { .. }));
    assert!(matches!(err(r"b'\xzz'"), PyReprError::InvalidEscape { .. }));
}

#[test]
fn string_errors() {
    assert!(matches!(err("'abc"), PyReprError::UnterminatedString { offset: 0 }));
    assert_eq!(err("[1, 'abc").to_string(), "unterminated string at offset 4");
    assert!(matches!(err("'a\nb'"), PyReprError::UnterminatedString { .. }));
    assert!(matches!(err("'a\rb'"), PyReprError::UnterminatedString { .. }));
    assert!(matches!(err("'''abc''"), PyReprError::UnterminatedString { .. }));
    assert!(matches!(err(r"r'\'"), PyReprError::UnterminatedString { .. }));
    assert!(matches!(err("'a\\"), PyReprError::UnterminatedString { .. }));
    assert!(matches!(err("b'é'"), PyReprError::NonAsciiBytes { offset: 2 }));
    assert!(matches!(err("b'a' 'b'"), PyReprError::MixedBytes { offset: 5 }));
    assert!(matches!(err("'a' b'b'"), PyReprError::MixedBytes { offset: 4 }));
    assert!(matches!(err("f'x'"), PyReprError::FString { offset: 0 }));
    assert!(matches!(err("rF'x'"), PyReprError::FString { .. }));
    assert!(matches!(err("ur'x'"), PyReprError::NotALiteral { .. }));
    assert!(matches!(err("bu'x'"), PyReprError::NotALiteral { .. }));
    assert!(matches!(err("'a\0'"), PyReprError::NullByte { offset: 2 }));
}

#[test]
fn adjacent_strings_concatenate() {
    assert_eq!(parse("'a' \"b\" '''c'''"), json!("abc"));
    assert_eq!(parse("'a' r'\\n' u'c'"), json!("a\\nc"));
    assert_eq!(parse("('a'\n  'b')"), json!("ab"));
    assert_eq!(parse("'a' \\\n 'b'"), json!("ab"));
    assert_eq!(parse("b'a' B'b'"), json!("ab"));
    assert!(err("'a'\n'b'").to_string().starts_with("unexpected character"));
}

#[test]
fn numbers() {
    assert_eq!(parse("0"), json!(0));
    assert_eq!(parse("00"), json!(0));
    assert_eq!(parse("1_000_000"), json!(1_000_000));
    assert_eq!(parse("-42"), json!(-42));
    assert_eq!(parse("+42"), json!(42));
    assert_eq!(parse("- 42"), json!(-42));
    assert_eq!(parse("-(42)"), json!(-42));
    assert_eq!(parse("-0"), json!(0));
    assert_eq!(parse("0xFF"), json!(255));
    assert_eq!(parse("0x_ff"), json!(255));
    assert_eq!(parse("0o17"), json!(15));
    assert_eq!(parse("0B1_0"), json!(2));
    assert_eq!(parse("18446744073709551615"), json!(u64::MAX));
    assert_eq!(parse("-9223372036854775808"), json!(i64::MIN));
    assert_eq!(parse("-9223372036854775809"), json!(-9223372036854775809.0));
    assert_eq!(parse("18446744073709551616"), json!(18446744073709551616.0));
    assert_eq!(parse("0x10000000000000000"), json!(18446744073709551616.0));
    // Round-half-even past 64 bits, including ties decided by bits far below the top 64.
    let wide: &[(&str, f64)] = &[
        ("0x10000000000000800", 1.8446744073709552e19),
        ("0x10000000000000801", 1.8446744073709556e19),
        ("0x10000000000001800", 1.844674407370956e19),
        ("0x1000000000000080000000000000001", 1.3292279957849162e36),
        ("0x1000000000000080000000000000000", 1.329227995784916e36),
        (
            "0b11111111111111111111111111111111111111111111111111111100000000000000000000",
            1.888946593147858e22,
        ),
    ];
    for &(source, want) in wide {
        assert_eq!(parse(source).as_f64(), Some(want), "{source}");
    }
    assert_eq!(parse("1.5"), json!(1.5));
    assert_eq!(parse(".5"), json!(0.5));
    assert_eq!(parse("1."), json!(1.0));
    assert_eq!(parse("1e10"), json!(1e10));
    assert_eq!(parse("1E+5"), json!(1e5));
    assert_eq!(parse("1.e-5"), json!(1e-5));
    assert_eq!(parse("1_000.5"), json!(1000.5));
    assert_eq!(parse("01.5"), json!(1.5));
    assert_eq!(parse("-0.0").as_f64().map(f64::is_sign_negative), Some(true));
    assert_eq!(parse("5e-324"), json!(5e-324));
    for bad in [
        "01", "1__0", "1_", "1._5", "1_.5", "1e", "0b102", "0o8", "0xg", "0x", "12abc", "1.5_",
    ] {
        assert!(matches!(err(bad), PyReprError::InvalidNumber { .. }), "{bad}");
    }
    for range in ["1e400", "-1e400", &"9".repeat(400), &format!("0x{}", "f".repeat(300))] {
        assert!(matches!(err(range), PyReprError::OutOfRange { .. }), "{range}");
    }
    assert!(matches!(err("1j"), PyReprError::Unsupported { .. }));
    assert!(matches!(err("inf"), PyReprError::NotALiteral { .. }));
    assert!(matches!(err("nan"), PyReprError::NotALiteral { .. }));
    assert!(matches!(err("--1"), PyReprError::SignOnNonNumber { offset: 1 }));
    assert!(matches!(err("-(-1)"), PyReprError::SignOnNonNumber { .. }));
    assert!(matches!(err("-True"), PyReprError::SignOnNonNumber { .. }));
    assert!(matches!(err("-'a'"), PyReprError::SignOnNonNumber { .. }));
    assert!(matches!(err("-(1,)"), PyReprError::SignOnNonNumber { .. }));
    assert!(err("1 + 2").to_string().starts_with("unexpected character '+'"));
}

#[test]
fn constants_and_containers() {
    assert_eq!(parse("None"), Value::Null);
    assert_eq!(parse("True"), json!(true));
    assert_eq!(parse("False"), json!(false));
    assert_eq!(parse("[]"), json!([]));
    assert_eq!(parse("[1, 'a', None,]"), json!([1, "a", null]));
    assert_eq!(parse("()"), json!([]));
    assert_eq!(parse("(1,)"), json!([1]));
    assert_eq!(parse("(1)"), json!(1));
    assert_eq!(parse("((1))"), json!(1));
    assert_eq!(parse("(1, (2, 3))"), json!([1, [2, 3]]));
    assert_eq!(parse("1, 2"), json!([1, 2]));
    assert_eq!(parse("1,"), json!([1]));
    assert_eq!(parse("{}"), json!({}));
    assert_eq!(parse("{'a': 1,}"), json!({"a": 1}));
    assert_eq!(parse("{1, 2, 1}"), json!([1, 2]));
    assert_eq!(parse("{(1, 2)}"), json!([[1, 2]]));
    assert_eq!(parse("set()"), json!([]));
    assert_eq!(parse("set( )"), json!([]));
    assert_eq!(parse("[\n 1, # one\n 2\n]"), json!([1, 2]));
    assert_eq!(parse("{\n'a'\n:\n1\n}"), json!({"a": 1}));
    assert_eq!(parse("  \t 1 # trailing\n\n"), json!(1));
    assert_eq!(parse("\n# c\n\n1\r\n"), json!(1));
    assert!(matches!(err("\n 1"), PyReprError::UnexpectedIndent { .. }));
    assert_eq!(parse("1\\\n\n"), json!(1));
    assert_eq!(parse("1\n \n"), json!(1));
    assert_eq!(parse("\\\n\x0c1"), json!(1));
    assert!(matches!(err("\\\n 1"), PyReprError::UnexpectedIndent { offset: 3 }));
    assert!(matches!(err("#c\\\n 1"), PyReprError::UnexpectedIndent { .. }));
    assert!(matches!(err("1\n "), PyReprError::UnexpectedIndent { offset: 3 }));
    assert!(matches!(
        err("1\\\n"),
        PyReprError::UnexpectedChar { found: '\\', offset: 1 }
    ));
    assert!(matches!(
        err("[1 2]"),
        PyReprError::UnexpectedChar { found: '2', offset: 3 }
    ));
    assert!(matches!(err("[,]"), PyReprError::UnexpectedChar { found: ',', .. }));
    assert!(matches!(err("(,)"), PyReprError::UnexpectedChar { .. }));
    assert!(matches!(err("{,}"), PyReprError::UnexpectedChar { .. }));
    assert!(matches!(err("[1"), PyReprError::UnexpectedEnd { offset: 2 }));
    assert!(matches!(err(""), PyReprError::UnexpectedEnd { offset: 0 }));
    assert!(matches!(err("..."), PyReprError::Unsupported { .. }));
    assert!(matches!(err("{[1]}"), PyReprError::Unhashable { offset: 1 }));
    assert!(matches!(err("{(1, [2])}"), PyReprError::Unhashable { .. }));
    assert!(matches!(err("{1: 2}"), PyReprError::NonStringKey { offset: 1 }));
    assert!(matches!(
        err("{'a': 1, b'b': 2}"),
        PyReprError::NonStringKey { offset: 9 }
    ));
    assert_eq!(err("{'a': 1, (1,): 2}").to_string(), "non-string dict key at offset 9");
}

#[test]
fn duplicate_keys_keep_first_position_and_last_value() {
    let value = parse("{'a': 1, 'b': 2, 'a': 3}");
    assert_eq!(value, json!({"a": 3, "b": 2}));
    let keys: Vec<&str> = value
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(keys, ["a", "b"]);
}

#[test]
fn rejects_code() {
    let e = err("{'user-agent': __import__('os').system('x')}");
    assert_eq!(e.to_string(), "name '__import__' is not a literal at offset 15");
    for code in [
        "os",
        "lambda: 1",
        "__import__('os')",
        "print('x')",
        "'x'.upper()",
        "[1][0]",
        "(1)(2)",
        "1 .real",
        "not 1",
        "1 if 1 else 2",
        "{**{}}",
        "[*[]]",
        "true",
        "[x for x in y]",
        "f'{x}'",
        "Ellipsis",
        "set([1])",
        "set",
    ] {
        assert!(parse_python_literal(code).is_err(), "{code} must be rejected");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let ok = format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert!(parse_python_literal(&ok).is_ok());
    let deep = format!("{}1{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
    assert_eq!(
        err(&deep).to_string(),
        format!("nesting too deep at offset {MAX_DEPTH}")
    );
    for open in ["(", "[", "{", "{'a': ", "(1, "] {
        let huge = open.repeat(200_000);
        assert!(matches!(err(&huge), PyReprError::TooDeep { .. }), "{open}");
    }
}

/// Values built by a seeded Python generator, checked against Python's own json.dumps.
const PY_GENERATE: &str = r#"
import json, random, struct, sys
rng = random.Random(1234)
def rand_char():
    k = rng.randrange(12)
    if k < 4: return chr(rng.randrange(0x20, 0x7f))
    if k == 4: return rng.choice(["'", '"', "\\", "\\\\", "'''", '"""', "\\'", "\n", "\r\n"])
    if k == 5: return chr(rng.randrange(0, 0x20))
    if k == 6: return rng.choice(["\x7f", "\u2028", "\u2029", "\x85", "\xa0", "\ufeff", "\u200b"])
    if k == 7: return chr(rng.randrange(0x80, 0x100))
    if k == 8: return chr(rng.randrange(0x4e00, 0xa000))
    if k == 9: return chr(rng.randrange(0x1f300, 0x1fb00))
    if k == 10: return chr(rng.randrange(0x300, 0x370))
    return chr(rng.choice([rng.randrange(0x100, 0xd800), rng.randrange(0xe000, 0x110000)]))
def rand_str():
    return "".join(rand_char() for _ in range(rng.randrange(12)))
def rand_float():
    k = rng.randrange(4)
    if k == 0:
        while True:
            f = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
            if f == f and f not in (float("inf"), float("-inf")): return f
    if k == 1: return rng.choice([0.0, -0.0, 1e16, 1e15, 1e-5, 1e-4, 5e-324, 1.7976931348623157e308, 0.1 + 0.2, 1e22, -2.5])
    if k == 2: return rng.uniform(-1e6, 1e6)
    return rng.randrange(-10**6, 10**6) * 10.0 ** rng.randrange(-30, 30)
def rand_int():
    k = rng.randrange(4)
    if k == 0: return rng.randrange(-1000, 1000)
    if k == 1: return rng.randrange(-2**63, 2**64)
    if k == 2: return rng.choice([2**63 - 1, -2**63, 2**64 - 1, 2**64, -2**63 - 1, 2**100, -3**90])
    return rng.randrange(-10**40, 10**40)
def rand_value(depth):
    k = rng.randrange(7 if depth >= 4 else 10)
    if k == 0: return rng.choice([None, True, False])
    if k == 1: return rand_int()
    if k == 2: return rand_float()
    if k in (3, 4, 5, 6): return rand_str()
    if k == 7: return {rand_str(): rand_value(depth + 1) for _ in range(rng.randrange(5))}
    if k == 8: return [rand_value(depth + 1) for _ in range(rng.randrange(5))]
    return tuple(rand_value(depth + 1) for _ in range(rng.randrange(4)))
values = [rand_value(0) for _ in range(400)]
values += [{rand_str(): rand_str() for _ in range(rng.randrange(1, 8))} for _ in range(100)]
for x in values:
    print(json.dumps({"repr": repr(x), "json": json.dumps(x)}))
"#;

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
            (Some(p), Some(q), _, _) => p == q,
            (_, _, Some(p), Some(q)) => p == q,
            _ => x.is_f64() && y.is_f64() && x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_value(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kp, vp), (kq, vq))| kp == kq && same_value(vp, vq))
        }
        _ => a == b,
    }
}

#[test]
fn matches_python_repr() {
    let output = Command::new("python3")
        .arg("-c")
        .arg(PY_GENERATE)
        .output()
        .expect("python3 must be on PATH for the cross-check tests");
    assert!(
        output.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("python output is utf-8");
    let mut checked = 0;
    for (index, line) in stdout.lines().enumerate() {
        let record: Value = serde_json::from_str(line).expect("python line parses");
        let (Some(repr), Some(dumped)) = (record["repr"].as_str(), record["json"].as_str()) else {
            panic!("line {index} lacks repr/json: {line}");
        };
        let want: Value = serde_json::from_str(dumped).expect("python json parses");
        let ours = parse_python_literal(repr).unwrap_or_else(|e| panic!("line {index}: {e} for {repr}"));
        assert!(
            same_value(&ours, &want),
            "line {index}: repr {repr}\n ours {ours}\n want {want}"
        );
        checked += 1;
    }
    assert!(checked >= 300, "only {checked} values checked");
}

fn mutate(source: &str, edits: &[(usize, usize, char)]) -> String {
    let mut chars: Vec<char> = source.chars().collect();
    for &(kind, at, c) in edits {
        let at = if chars.is_empty() { 0 } else { at % (chars.len() + 1) };
        match kind % 3 {
            0 => chars.insert(at, c),
            1 if at < chars.len() => {
                chars.remove(at);
            }
            _ if at < chars.len() => chars[at] = c,
            _ => {}
        }
    }
    chars.into_iter().collect()
}

const SEEDS: &[&str] = &[
    r#"{'host': 'x', 'user-agent': "Mozilla/5.0 (it's)", 'x-forwarded-for': '1.2.3.4, 10.0.0.1'}"#,
    r"[1, -2.5e-3, 0x_ff, (None, True), {'a': b'\x00\777'}, set(), {1, 2}]",
    r"'''multi\nline''' r'raw\'' u'\u00e9\U0001F600\N{X}' '\777\8'",
    "(\n  1,\n  # comment\n  [1_000.5, .5, 1.],\n)",
];

proptest::proptest! {
    #[test]
    fn never_panics_on_arbitrary_text(text in ".*") {
        let _ = parse_python_literal(&text);
    }

    #[test]
    fn never_panics_on_syntax_soup(text in "[\\[\\](){}'\",:.0-9a-fA-Zx_\\\\ \n\r\t+#rbuN-]{0,80}") {
        let _ = parse_python_literal(&text);
    }

    #[test]
    fn never_panics_on_mutated_reprs(
        seed in 0..SEEDS.len(),
        edits in proptest::collection::vec((0usize..3, 0usize..200, proptest::char::any()), 1..6),
    ) {
        let _ = parse_python_literal(&mutate(SEEDS[seed], &edits));
    }

    #[test]
    fn errors_carry_in_range_offsets(text in ".{0,60}") {
        if let Err(e) = parse_python_literal(&text) {
            proptest::prop_assert!(e.offset() <= text.len());
        }
    }
}
