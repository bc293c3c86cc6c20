//! High-confidence credential detection (API keys, tokens, private key blocks).
//!
//! Text without credentials costs one pass: a search for the literals every pattern needs (`sk-`, `AKIA`, `eyJ`,
//! ...). Only patterns whose literal occurred run for positions, and each candidate must then pass a kind-specific
//! check (exact length, a realistic character mix, no placeholder such as `xxxx`, `123456` or `YOUR_KEY`) before it
//! counts. Patterns are ASCII-only with ASCII word boundaries, so the regex engines never fall back to a slower
//! path on multibyte chat text.
//! Offsets in [`Secret`] are Unicode code points, end-exclusive, like the PII crate's spans.

use std::fmt;
use std::ops::Range;
use std::sync::OnceLock;

use regex::Regex;

/// What kind of credential a [`Secret`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretKind {
    /// `sk-` + 32 or more alphanumerics, or `sk-proj-` / `sk-svcacct-` / `sk-admin-` / `sk-None-` keys. Keys of
    /// OpenAI-compatible services with the same shape are reported under this kind too.
    OpenAiApiKey,
    /// `sk-ant-api03-...` and other `sk-ant-` keys.
    AnthropicApiKey,
    /// `AKIA` / `ASIA` + 16 upper-case letters or digits.
    AwsAccessKeyId,
    /// 40 base64 characters, only right after an `aws_secret_access_key`-like label.
    AwsSecretAccessKey,
    /// `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_` and `github_pat_` tokens.
    GithubToken,
    /// `glpat-` personal access tokens.
    GitlabToken,
    /// `AIza` + 35 characters.
    GoogleApiKey,
    /// `xoxa-`, `xoxb-`, `xoxo-`, `xoxp-`, `xoxr-`, `xoxs-` tokens.
    SlackToken,
    /// `https://hooks.slack.com/services/...` (also `workflows/`, `triggers/`).
    SlackWebhook,
    /// `sk_live_`, `rk_live_`, `pk_live_` keys.
    StripeKey,
    /// `hf_` + 34 letters.
    HuggingFaceToken,
    /// `npm_` + 36 alphanumerics.
    NpmToken,
    /// `pypi-AgEIcHlwaS5vcmc...` upload tokens.
    PypiToken,
    /// `SG.` + 22 + `.` + 43 characters.
    SendgridApiKey,
    /// `<bot id>:AA` + 33 characters.
    TelegramBotToken,
    /// A signed JSON Web Token whose header decodes to a JSON object with `"alg"`.
    Jwt,
    /// A PEM/OpenSSH/PGP private key block, `-----BEGIN ... PRIVATE KEY-----` through its `END` line (or through
    /// the last base64 line when a paste was cut off before `END`).
    PrivateKey,
}

impl SecretKind {
    /// All kinds, in declaration order.
    pub const ALL: &'static [SecretKind] = &[
        SecretKind::OpenAiApiKey,
        SecretKind::AnthropicApiKey,
        SecretKind::AwsAccessKeyId,
        SecretKind::AwsSecretAccessKey,
        SecretKind::GithubToken,
        SecretKind::GitlabToken,
        SecretKind::GoogleApiKey,
        SecretKind::SlackToken,
        SecretKind::SlackWebhook,
        SecretKind::StripeKey,
        SecretKind::HuggingFaceToken,
        SecretKind::NpmToken,
        SecretKind::PypiToken,
        SecretKind::SendgridApiKey,
        SecretKind::TelegramBotToken,
        SecretKind::Jwt,
        SecretKind::PrivateKey,
    ];

    /// The upper-case name used in replacement text, e.g. `OPENAI_API_KEY`.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretKind::OpenAiApiKey => "OPENAI_API_KEY",
            SecretKind::AnthropicApiKey => "ANTHROPIC_API_KEY",
            SecretKind::AwsAccessKeyId => "AWS_ACCESS_KEY_ID",
            SecretKind::AwsSecretAccessKey => "AWS_SECRET_ACCESS_KEY",
            SecretKind::GithubToken => "GITHUB_TOKEN",
            SecretKind::GitlabToken => "GITLAB_TOKEN",
            SecretKind::GoogleApiKey => "GOOGLE_API_KEY",
            SecretKind::SlackToken => "SLACK_TOKEN",
            SecretKind::SlackWebhook => "SLACK_WEBHOOK",
            SecretKind::StripeKey => "STRIPE_KEY",
            SecretKind::HuggingFaceToken => "HUGGINGFACE_TOKEN",
            SecretKind::NpmToken => "NPM_TOKEN",
            SecretKind::PypiToken => "PYPI_TOKEN",
            SecretKind::SendgridApiKey => "SENDGRID_API_KEY",
            SecretKind::TelegramBotToken => "TELEGRAM_BOT_TOKEN",
            SecretKind::Jwt => "JWT",
            SecretKind::PrivateKey => "PRIVATE_KEY",
        }
    }
}

impl fmt::Display for SecretKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A detected credential. `start`/`end` are Unicode code-point offsets into the text, end-exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Secret {
    pub kind: SecretKind,
    pub start: usize,
    pub end: usize,
}

/// Checks a candidate. Gets the text, the byte range of the whole match and of the pattern's value (the `v` group,
/// else the whole match); returns the byte range to report, or `None` to reject the candidate.
type Check = fn(&str, Range<usize>, Range<usize>) -> Option<Range<usize>>;

/// ASCII word boundary: unlike `\b` it keeps the lazy DFA usable on non-ASCII text.
const B: &str = r"(?-u:\b)";

// The AWS label in its three usual casings rather than `(?i)`: a case-insensitive `secret` has 64 spellings, too
// many for the literal prefilter, and the scan would drop from GB/s to a few hundred MB/s.
const AWS: &str = "(?:aws|AWS|Aws)";
const SECRET: &str = "(?:secret|SECRET|Secret)";
const ACCESS: &str = "(?:access|ACCESS|Access)";
const KEY: &str = "(?:key|KEY|Key)";

/// One credential pattern. Every match of `pattern` contains one of `literals` (case-sensitive), which is what
/// lets a single literal pass decide which patterns need to run at all.
struct PatternSpec {
    kind: SecretKind,
    literals: &'static [&'static str],
    pattern: String,
    check: Check,
}

fn spec(kind: SecretKind, literals: &'static [&'static str], pattern: String, check: Check) -> PatternSpec {
    PatternSpec {
        kind,
        literals,
        pattern,
        check,
    }
}

/// The patterns, most specific first: on overlapping candidates with the same start, the earlier one wins.
fn patterns() -> Vec<PatternSpec> {
    use SecretKind as K;
    vec![
        spec(
            K::PrivateKey,
            &["PRIVATE KEY"],
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----".into(),
            check_private_key,
        ),
        spec(
            K::Jwt,
            &["eyJ"],
            format!(r"{B}eyJ[A-Za-z0-9_\-]{{8,}}\.[A-Za-z0-9_\-]{{2,}}\.[A-Za-z0-9_\-]{{16,}}"),
            check_jwt,
        ),
        spec(
            K::SlackWebhook,
            &["hooks.slack.com"],
            r"https?://hooks\.slack\.com/(?:services|workflows|triggers)/(?P<v>[A-Za-z0-9_/+\-]{20,})".into(),
            check_slack_webhook,
        ),
        spec(
            K::AwsSecretAccessKey,
            &["secret", "SECRET", "Secret"],
            format!(
                r#"(?:(?:{AWS}[ _.\-]?)?{SECRET}[ _.\-]?{ACCESS}[ _.\-]?{KEY}|{AWS}[ _.\-]?{SECRET}[ _.\-]?{KEY})"#
            ) + r#"["'\]]?[ \t]*(?:\[[^\]\n]{0,16}\][ \t]*)?(?:=>|:=|[:=])?[ \t]*["']?(?P<v>[A-Za-z0-9/+]{40,})"#,
            check_aws_secret,
        ),
        spec(
            K::AnthropicApiKey,
            &["sk-"],
            format!(r"{B}sk-ant-(?:[a-z]{{2,8}}[0-9]{{2}}-)?(?P<v>[A-Za-z0-9_\-]{{32,}})"),
            check_mixed_case_digit,
        ),
        spec(
            K::OpenAiApiKey,
            &["sk-"],
            format!(r"{B}sk-(?:proj|svcacct|admin|None)-(?P<v>[A-Za-z0-9_\-]{{40,}})"),
            check_mixed_case_digit,
        ),
        spec(
            K::OpenAiApiKey,
            &["sk-"],
            format!(r"{B}sk-(?P<v>[A-Za-z0-9]{{32,}})"),
            check_openai_plain,
        ),
        spec(
            K::AwsAccessKeyId,
            &["AKIA", "ASIA"],
            format!(r"{B}(?:AKIA|ASIA)(?P<v>[A-Z0-9]{{16}}){B}"),
            check_aws_key_id,
        ),
        spec(
            K::GithubToken,
            &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
            format!(r"{B}gh[pousr]_(?P<v>[A-Za-z0-9]{{36,}})"),
            check_github_classic,
        ),
        spec(
            K::GithubToken,
            &["github_pat_"],
            format!(r"{B}github_pat_(?P<v>[A-Za-z0-9_]{{60,}})"),
            check_mixed_case_digit,
        ),
        spec(
            K::GitlabToken,
            &["glpat-"],
            format!(r"{B}glpat-(?P<v>[A-Za-z0-9_\-]{{20,}})"),
            check_mixed_case,
        ),
        spec(
            K::GoogleApiKey,
            &["AIza"],
            format!(r"{B}AIza(?P<v>[A-Za-z0-9_\-]{{35,}})"),
            check_google,
        ),
        spec(
            K::SlackToken,
            &["xox"],
            format!(r"{B}xox[abposr]-(?P<v>(?:[0-9]{{1,16}}-){{1,3}}[A-Za-z0-9]{{12,}})"),
            check_slack_token,
        ),
        spec(
            K::StripeKey,
            &["_live_"],
            format!(r"{B}[spr]k_live_(?P<v>[A-Za-z0-9]{{20,}})"),
            check_mixed_case,
        ),
        spec(
            K::HuggingFaceToken,
            &["hf_"],
            format!(r"{B}hf_(?P<v>[A-Za-z0-9]{{34,}})"),
            check_hugging_face,
        ),
        spec(
            K::NpmToken,
            &["npm_"],
            format!(r"{B}npm_(?P<v>[A-Za-z0-9]{{36,}})"),
            check_npm,
        ),
        spec(
            K::PypiToken,
            &["pypi-AgEIcHlwaS5vcmc"],
            format!(r"{B}pypi-AgEIcHlwaS5vcmc(?P<v>[A-Za-z0-9_\-]{{50,}})"),
            check_pypi,
        ),
        spec(
            K::SendgridApiKey,
            &["SG."],
            format!(r"{B}SG\.(?P<v>[A-Za-z0-9_\-]{{22}}\.[A-Za-z0-9_\-]{{43,}})"),
            check_sendgrid,
        ),
        spec(
            K::TelegramBotToken,
            &[":AA"],
            format!(r"{B}[0-9]{{8,10}}:(?P<v>AA[A-Za-z0-9_\-]{{33,}})"),
            check_telegram,
        ),
    ]
}

struct CompiledPattern {
    kind: SecretKind,
    regex: Regex,
    check: Check,
}

/// Compiled secret patterns. Build once and share: it is `Send + Sync`.
///
/// Scanning is one pass of `gate`, an alternation of every pattern's required literals (a SIMD literal search,
/// several GB/s); only the patterns whose literal occurred then run, each with its own literal prefilter. A
/// [`regex::RegexSet`] would be the obvious single pass, but its DFA cannot skip ahead on literals and ran at a
/// quarter of the speed (about 250 MB/s against 1 GB/s) on chat text.
pub struct SecretScanner {
    gate: Regex,
    /// For each literal of `gate`, the patterns that need it.
    literal_patterns: Vec<(&'static str, Vec<usize>)>,
    patterns: Vec<CompiledPattern>,
}

impl Default for SecretScanner {
    fn default() -> Self {
        Self::new()
    }
}

impl SecretScanner {
    pub fn new() -> Self {
        let specs = patterns();
        let mut literal_patterns: Vec<(&'static str, Vec<usize>)> = Vec::new();
        for (index, spec) in specs.iter().enumerate() {
            for &literal in spec.literals {
                match literal_patterns.iter_mut().find(|(known, _)| *known == literal) {
                    Some((_, indices)) => indices.push(index),
                    None => literal_patterns.push((literal, vec![index])),
                }
            }
        }
        let alternation: Vec<String> = literal_patterns
            .iter()
            .map(|(literal, _)| regex::escape(literal))
            .collect();
        let gate = Regex::new(&alternation.join("|")).expect("secret literals compile");
        let patterns = specs
            .into_iter()
            .map(|spec| CompiledPattern {
                kind: spec.kind,
                regex: Regex::new(&spec.pattern).expect("secret pattern compiles"),
                check: spec.check,
            })
            .collect();
        SecretScanner {
            gate,
            literal_patterns,
            patterns,
        }
    }

    /// Which patterns can match: those with a required literal somewhere in `text`.
    fn candidate_patterns(&self, text: &str) -> Vec<bool> {
        let mut candidates = vec![false; self.patterns.len()];
        let mut from = 0usize;
        // restart one byte after each hit's start so that overlapping literals (":AAKIA") are all seen
        while let Some(hit) = self.gate.find_at(text, from) {
            if let Some((_, indices)) = self
                .literal_patterns
                .iter()
                .find(|(literal, _)| *literal == hit.as_str())
            {
                for &index in indices {
                    candidates[index] = true;
                }
            }
            from = hit.start() + 1;
            while from < text.len() && !text.is_char_boundary(from) {
                from += 1;
            }
            if from >= text.len() {
                break;
            }
        }
        candidates
    }

    /// Finds credentials in `text`: sorted by start, non-overlapping, offsets in code points.
    pub fn scan(&self, text: &str) -> Vec<Secret> {
        let candidates = self.candidate_patterns(text);
        if !candidates.contains(&true) {
            return Vec::new();
        }
        // (byte start, byte end, pattern index)
        let mut found: Vec<(usize, usize, usize)> = Vec::new();
        for (index, pattern) in self.patterns.iter().enumerate().filter(|&(index, _)| candidates[index]) {
            for caps in pattern.regex.captures_iter(text) {
                let Some(whole) = caps.get(0) else {
                    continue;
                };
                let value = caps.name("v").unwrap_or(whole);
                if let Some(range) = (pattern.check)(text, whole.range(), value.range()) {
                    found.push((range.start, range.end, index));
                }
            }
        }
        found.sort_unstable_by_key(|&(start, end, index)| (start, index, std::cmp::Reverse(end)));
        let mut secrets = Vec::with_capacity(found.len());
        let mut covered_to = 0usize;
        let mut chars_before = 0usize;
        let mut counted_to = 0usize;
        for (start, end, index) in found {
            if start < covered_to {
                continue;
            }
            covered_to = end;
            chars_before += text[counted_to..start].chars().count();
            let start_code_point = chars_before;
            chars_before += text[start..end].chars().count();
            counted_to = end;
            secrets.push(Secret {
                kind: self.patterns[index].kind,
                start: start_code_point,
                end: chars_before,
            });
        }
        secrets
    }
}

/// The shared default scanner.
pub fn scanner() -> &'static SecretScanner {
    static SCANNER: OnceLock<SecretScanner> = OnceLock::new();
    SCANNER.get_or_init(SecretScanner::new)
}

/// Finds credentials in `text` with the shared default [`SecretScanner`].
pub fn scan(text: &str) -> Vec<Secret> {
    scanner().scan(text)
}

// ---- candidate checks ----

/// Lower-cased fragments that mark a documentation placeholder rather than a real key. Four letters or more, so a
/// random 40-character key contains one by chance well under once in ten thousand.
const PLACEHOLDER_WORDS: [&str; 10] = [
    "xxxx",
    "your",
    "example",
    "sample",
    "placeholder",
    "dummy",
    "redacted",
    "fake",
    "insert",
    "replace",
];

/// Whether `body` looks like generated key material rather than something a person typed: no run of five equal
/// characters, no six-character ascending/descending sequence (`abcdef`, `654321`), no placeholder word, and
/// enough distinct characters.
fn looks_random(body: &str) -> bool {
    let bytes = body.as_bytes();
    if bytes.is_empty() {
        return false;
    }
    let mut run = 1usize;
    let mut rising = 1usize;
    let mut falling = 1usize;
    for pair in bytes.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        run = if a == b { run + 1 } else { 1 };
        rising = if b == a.wrapping_add(1) { rising + 1 } else { 1 };
        falling = if a == b.wrapping_add(1) { falling + 1 } else { 1 };
        if run >= 5 || rising >= 6 || falling >= 6 {
            return false;
        }
    }
    let lower = body.to_ascii_lowercase();
    if PLACEHOLDER_WORDS.iter().any(|w| lower.contains(w)) {
        return false;
    }
    let mut seen = [false; 256];
    let mut distinct = 0usize;
    for &b in bytes {
        if !seen[usize::from(b)] {
            seen[usize::from(b)] = true;
            distinct += 1;
        }
    }
    distinct >= (bytes.len() / 2).min(10)
}

fn has_upper(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_uppercase())
}

fn has_lower(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_lowercase())
}

fn has_digit(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit())
}

fn has_letter(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_alphabetic())
}

fn check_mixed_case_digit(text: &str, whole: Range<usize>, value: Range<usize>) -> Option<Range<usize>> {
    let body = &text[value];
    (has_upper(body) && has_lower(body) && has_digit(body) && looks_random(body)).then_some(whole)
}

fn check_mixed_case(text: &str, whole: Range<usize>, value: Range<usize>) -> Option<Range<usize>> {
    let body = &text[value];
    (has_upper(body) && has_lower(body) && looks_random(body)).then_some(whole)
}

/// `sk-` + alphanumerics: mixed case with digits (OpenAI), or lower-case hex (OpenAI-compatible services).
fn check_openai_plain(text: &str, whole: Range<usize>, value: Range<usize>) -> Option<Range<usize>> {
    let body = &text[value];
    let mixed = has_upper(body) && has_lower(body);
    let hex = body.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (has_digit(body) && has_letter(body) && (mixed || hex) && looks_random(body)).then_some(whole)
}

/// An all-caps word such as `ASIAPACIFICREGIONS` has the right shape, so a digit is required (a real id lacks one
/// about 1 time in 30 with the base32 alphabet AWS uses; those are missed). AWS's documented example ids contain
/// `EXAMPLE`.
fn check_aws_key_id(text: &str, whole: Range<usize>, value: Range<usize>) -> Option<Range<usize>> {
    let body = &text[value];
    (has_digit(body) && !body.contains("EXAMPLE") && looks_random(body)).then_some(whole)
}

/// Exactly 40 base64 characters, not the head of a longer base64 blob. Only the value is reported, not its label.
fn check_aws_secret(text: &str, _whole: Range<usize>, value: Range<usize>) -> Option<Range<usize>> {
    let body = &text[value.clone()];
    let padded = text.as_bytes().get(value.end) == Some(&b'=');
    (body.len() == 40 && !padded && has_upper(body) && has_lower(body) && looks_random(body)).then_some(value)
}

/// Classic tokens are 36 characters; `ghs_` server tokens may be longer, up to 255 in all.
fn check_github_classic(text: &str, whole: Range<usize>, value: Range<usize>) -> Option<Range<usize>> {
    let body = &text[value];
    (body.len() <= 251 && has_upper(body) && has_lower(body) && looks_random(body)).then_some(whole)
}

fn check_google(text: &str, whole: Range<usize>, value: Range<usize>) -> Option<Range<usize>> {
    let body = &text[value];
    (body.len() == 35 && has_upper(body) && has_lower(body) && looks_random(body)).then_some(whole)
}

/// The random tail must have a letter; ids and tail together must not be a placeholder such as `1234567890`.
fn check_slack_token(text: &str, whole: Range<usize>, value: Range<usize>) -> Option<Range<usize>> {
    let body = &text[value];
    let tail = body.rsplit('-').next().unwrap_or(body);
    (has_letter(tail) && looks_random(tail) && looks_random(body)).then_some(whole)
}

fn check_slack_webhook(text: &str, whole: Range<usize>, value: Range<usize>) -> Option<Range<usize>> {
    let body = &text[value];
    (has_digit(body) && has_letter(body) && looks_random(body)).then_some(whole)
}

fn check_hugging_face(text: &str, whole: Range<usize>, value: Range<usize>) -> Option<Range<usize>> {
    let body = &text[value];
    let letters_only = body.bytes().all(|b| b.is_ascii_alphabetic());
    (body.len() == 34 && letters_only && has_upper(body) && has_lower(body) && looks_random(body)).then_some(whole)
}

fn check_npm(text: &str, whole: Range<usize>, value: Range<usize>) -> Option<Range<usize>> {
    let body = &text[value];
    (body.len() == 36 && has_upper(body) && has_lower(body) && looks_random(body)).then_some(whole)
}

/// The fixed `pypi-AgEIcHlwaS5vcmc` prefix (a macaroon for pypi.org) is itself the evidence; the body is base64 of
/// binary data and may hold runs, so only placeholders are rejected.
fn check_pypi(text: &str, whole: Range<usize>, value: Range<usize>) -> Option<Range<usize>> {
    let lower = text[value].to_ascii_lowercase();
    (!PLACEHOLDER_WORDS.iter().any(|w| lower.contains(w))).then_some(whole)
}

fn check_sendgrid(text: &str, whole: Range<usize>, value: Range<usize>) -> Option<Range<usize>> {
    let body = &text[value];
    (body.len() == 22 + 1 + 43 && has_upper(body) && has_lower(body) && looks_random(body)).then_some(whole)
}

/// The value starts with the fixed `AA`, which is left out of the randomness test.
fn check_telegram(text: &str, whole: Range<usize>, value: Range<usize>) -> Option<Range<usize>> {
    let body = &text[value];
    let random = body.get(2..).unwrap_or_default();
    (body.len() == 35 && has_upper(random) && has_lower(random) && looks_random(random)).then_some(whole)
}

/// The signature of jwt.io's example token, which is quoted everywhere and protects nothing.
const JWT_IO_EXAMPLE_SIGNATURE: &str = "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

fn check_jwt(text: &str, whole: Range<usize>, _value: Range<usize>) -> Option<Range<usize>> {
    let mut parts = text[whole.clone()].split('.');
    let header = parts.next()?;
    let _payload = parts.next()?;
    let signature = parts.next()?;
    if signature == JWT_IO_EXAMPLE_SIGNATURE {
        return None;
    }
    let decoded = decode_base64url(header)?;
    let json: serde_json::Value = serde_json::from_slice(&decoded).ok()?;
    let has_alg = json
        .as_object()
        .is_some_and(|object| object.get("alg").is_some_and(|alg| alg.is_string()));
    has_alg.then_some(whole)
}

/// Decodes unpadded base64url; `None` on any character outside the alphabet or an impossible length.
fn decode_base64url(input: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'-' => Some(62),
            b'_' => Some(63),
            _ => None,
        }
    }
    if input.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    for chunk in input.as_bytes().chunks(4) {
        let mut acc = 0u32;
        for &c in chunk {
            acc = (acc << 6) | value(c)?;
        }
        let bits = chunk.len() * 6;
        acc <<= 24 - bits;
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..1 + bits / 8]);
    }
    Some(out)
}

/// The longest PEM body searched for the `END` line; an 8192-bit RSA key is about 6.5 KB.
const MAX_PRIVATE_KEY_BYTES: usize = 16 * 1024;
/// Fewer base64 characters than this is a placeholder (`...`, `YOUR_PRIVATE_KEY_HERE`), not a key.
const MIN_PRIVATE_KEY_BASE64: usize = 64;

/// The match is the `BEGIN` line. Reports through the matching `END` line or, for a paste cut off before it,
/// through the last line of the base64 body that follows.
fn check_private_key(text: &str, whole: Range<usize>, _value: Range<usize>) -> Option<Range<usize>> {
    let begin_end = whole.end;
    let mut limit = (begin_end + MAX_PRIVATE_KEY_BYTES).min(text.len());
    while !text.is_char_boundary(limit) {
        limit -= 1;
    }
    let window = &text[begin_end..limit];
    if let Some((body_len, end_line_len)) = find_pem_end(window) {
        let ok = is_key_material(&window[..body_len]);
        return ok.then_some(whole.start..begin_end + body_len + end_line_len);
    }
    let body_len = truncated_body_len(window);
    is_key_material(&window[..body_len]).then_some(whole.start..begin_end + body_len)
}

/// The length of what follows a `BEGIN` line with no `END`: the rest of that line, optional `Key: value` header
/// lines and blank lines, then base64 lines up to the first line that is none of these. Trailing newlines are not
/// included.
fn truncated_body_len(window: &str) -> usize {
    let mut consumed = 0usize;
    let mut body_len = 0usize;
    let mut seen_base64 = false;
    for (index, line) in window.split_inclusive('\n').enumerate() {
        let without_newline = line.trim_end_matches(['\n', '\r']);
        let content = without_newline.trim_matches([' ', '\t']);
        let base64_line = !content.is_empty()
            && content
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        let header_or_blank = !seen_base64 && (content.is_empty() || content.contains(": "));
        if index > 0 && !(base64_line || header_or_blank) {
            break;
        }
        if index > 0 && seen_base64 && !base64_line {
            break;
        }
        seen_base64 |= base64_line && index > 0;
        if !content.is_empty() {
            body_len = consumed + without_newline.len();
        }
        consumed += line.len();
    }
    if seen_base64 {
        body_len
    } else {
        0
    }
}

/// Finds `-----END <label>PRIVATE KEY[ BLOCK]-----`; returns (bytes before it, its length).
fn find_pem_end(window: &str) -> Option<(usize, usize)> {
    let mut from = 0usize;
    while let Some(found) = window[from..].find("-----END ") {
        let at = from + found;
        let label_start = at + "-----END ".len();
        if let Some(close) = window[label_start..].find("-----") {
            let label = &window[label_start..label_start + close];
            let valid_label = label.len() <= 64
                && (label.ends_with("PRIVATE KEY") || label.ends_with("PRIVATE KEY BLOCK"))
                && label
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ');
            if valid_label {
                return Some((at, "-----END ".len() + close + "-----".len()));
            }
        }
        from = label_start;
    }
    None
}

/// Real key material has a long unbroken base64 run (PEM lines are 64 characters, OpenSSH 70); prose such as
/// `YOUR PRIVATE KEY GOES HERE` does not.
fn is_key_material(body: &str) -> bool {
    let mut base64_chars = 0usize;
    let mut seen = [false; 256];
    let mut long_run = false;
    for token in body.split_whitespace() {
        let is_base64 = token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        if !is_base64 {
            continue;
        }
        long_run |= token.len() >= 40;
        for b in token.bytes().filter(|&b| b != b'=') {
            base64_chars += 1;
            seen[usize::from(b)] = true;
        }
    }
    long_run && base64_chars >= MIN_PRIVATE_KEY_BASE64 && seen.iter().filter(|&&s| s).count() >= 16
}

#[cfg(test)]
mod tests;
