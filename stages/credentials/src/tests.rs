use super::*;

/// Deterministic pseudo-random text, so no realistic-looking credential is written into the source.
fn random_from(seed: u64, alphabet: &str, len: usize) -> String {
    let alphabet = alphabet.as_bytes();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(alphabet[(state % alphabet.len() as u64) as usize])
        })
        .collect()
}

const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const URL_SAFE: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
const BASE64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const LETTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const UPPER_DIGITS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const HEX_LOWER: &str = "0123456789abcdef";
const DIGITS: &str = "0123456789";

fn base64url(bytes: &[u8]) -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let mut acc = 0u32;
        for (i, &b) in chunk.iter().enumerate() {
            acc |= u32::from(b) << (16 - 8 * i);
        }
        for i in 0..=chunk.len() {
            out.push(char::from(alphabet[((acc >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn jwt(header: &str, seed: u64) -> String {
    format!(
        "{}.{}.{}",
        base64url(header.as_bytes()),
        base64url(br#"{"sub":"4242","name":"Ada","iat":1700000000}"#),
        random_from(seed, URL_SAFE, 43)
    )
}

fn pem(label: &str, seed: u64) -> String {
    let lines: Vec<String> = (0..6).map(|i| random_from(seed + i, BASE64, 64)).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----", lines.join("\n"))
}

/// One realistic token per kind (several for kinds with several shapes).
fn valid_tokens() -> Vec<(SecretKind, String)> {
    use SecretKind as K;
    vec![
        (K::OpenAiApiKey, format!("sk-{}", random_from(1, ALNUM, 48))),
        (
            K::OpenAiApiKey,
            format!("sk-{}T3BlbkFJ{}", random_from(2, ALNUM, 20), random_from(3, ALNUM, 20)),
        ),
        (K::OpenAiApiKey, format!("sk-proj-{}", random_from(4, URL_SAFE, 156))),
        (K::OpenAiApiKey, format!("sk-svcacct-{}", random_from(5, URL_SAFE, 120))),
        (K::OpenAiApiKey, format!("sk-{}", random_from(6, HEX_LOWER, 32))),
        (
            K::AnthropicApiKey,
            format!("sk-ant-api03-{}AA", random_from(7, URL_SAFE, 93)),
        ),
        (K::AwsAccessKeyId, format!("AKIA{}7", random_from(8, UPPER_DIGITS, 15))),
        (K::AwsAccessKeyId, format!("ASIA{}2", random_from(9, UPPER_DIGITS, 15))),
        (K::GithubToken, format!("ghp_{}", random_from(10, ALNUM, 36))),
        (K::GithubToken, format!("gho_{}", random_from(11, ALNUM, 36))),
        (K::GithubToken, format!("ghs_{}", random_from(12, ALNUM, 36))),
        (
            K::GithubToken,
            format!(
                "github_pat_{}_{}",
                random_from(13, ALNUM, 22),
                random_from(14, ALNUM, 59)
            ),
        ),
        (K::GitlabToken, format!("glpat-{}", random_from(15, URL_SAFE, 20))),
        (K::GoogleApiKey, format!("AIza{}", random_from(16, URL_SAFE, 35))),
        (
            K::SlackToken,
            format!(
                "xoxb-{}-{}-{}",
                random_from(17, DIGITS, 11),
                random_from(18, DIGITS, 13),
                random_from(19, ALNUM, 24)
            ),
        ),
        (
            K::SlackToken,
            format!(
                "xoxp-{}-{}-{}-{}",
                random_from(20, DIGITS, 10),
                random_from(21, DIGITS, 10),
                random_from(22, DIGITS, 12),
                random_from(23, HEX_LOWER, 32)
            ),
        ),
        (
            K::SlackWebhook,
            format!(
                "https://hooks.slack.com/services/T{}/B{}/{}",
                random_from(24, UPPER_DIGITS, 8),
                random_from(25, UPPER_DIGITS, 10),
                random_from(26, ALNUM, 24)
            ),
        ),
        (K::StripeKey, format!("sk_live_{}", random_from(27, ALNUM, 24))),
        (K::StripeKey, format!("rk_live_{}", random_from(28, ALNUM, 99))),
        (K::StripeKey, format!("pk_live_{}", random_from(29, ALNUM, 99))),
        (K::HuggingFaceToken, format!("hf_{}", random_from(30, LETTERS, 34))),
        (K::NpmToken, format!("npm_{}", random_from(31, ALNUM, 36))),
        (
            K::PypiToken,
            format!("pypi-AgEIcHlwaS5vcmc{}", random_from(32, URL_SAFE, 150)),
        ),
        (
            K::SendgridApiKey,
            format!("SG.{}.{}", random_from(33, URL_SAFE, 22), random_from(34, URL_SAFE, 43)),
        ),
        (
            K::TelegramBotToken,
            format!("{}:AA{}", random_from(35, DIGITS, 10), random_from(36, URL_SAFE, 33)),
        ),
        (K::Jwt, jwt(r#"{"alg":"HS256","typ":"JWT"}"#, 37)),
        (K::Jwt, jwt(r#"{"typ":"JWT","alg":"RS256","kid":"k1"}"#, 38)),
        (K::PrivateKey, pem("RSA PRIVATE KEY", 40)),
        (K::PrivateKey, pem("PRIVATE KEY", 50)),
        (K::PrivateKey, pem("ENCRYPTED PRIVATE KEY", 60)),
        (K::PrivateKey, pem("OPENSSH PRIVATE KEY", 70)),
        (K::PrivateKey, pem("PGP PRIVATE KEY BLOCK", 80)),
    ]
}

fn code_point_range(text: &str, needle: &str) -> (usize, usize) {
    let byte = text.find(needle).expect("needle in text");
    let start = text[..byte].chars().count();
    (start, start + needle.chars().count())
}

#[test]
fn kind_names() {
    let names: Vec<&str> = SecretKind::ALL.iter().map(|k| k.as_str()).collect();
    for expected in [
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "GITHUB_TOKEN",
        "GOOGLE_API_KEY",
        "SLACK_TOKEN",
        "SLACK_WEBHOOK",
        "STRIPE_KEY",
        "JWT",
        "PRIVATE_KEY",
    ] {
        assert!(names.contains(&expected), "{expected} missing");
    }
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len());
}

#[test]
fn scanner_is_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<SecretScanner>();
}

#[test]
fn every_kind_is_found_with_its_exact_range() {
    let tokens = valid_tokens();
    for kind in SecretKind::ALL.iter().filter(|&&k| k != SecretKind::AwsSecretAccessKey) {
        assert!(tokens.iter().any(|(k, _)| k == kind), "no positive case for {kind}");
    }
    for (kind, token) in tokens {
        for text in [
            format!("my key is {token} ok"),
            format!("KEY=\"{token}\"\n"),
            token.clone(),
        ] {
            let (start, end) = code_point_range(&text, &token);
            assert_eq!(scan(&text), vec![Secret { kind, start, end }], "in {text:?}");
        }
    }
}

#[test]
fn offsets_are_code_points_after_multibyte_text() {
    for (kind, token) in valid_tokens() {
        let text = format!("这是我的密钥 🔑：{token}。谢谢 🙏");
        let (start, end) = code_point_range(&text, &token);
        assert_eq!(start, "这是我的密钥 🔑：".chars().count());
        assert_eq!(scan(&text), vec![Secret { kind, start, end }], "in {text:?}");
    }
}

#[test]
fn several_secrets_come_back_sorted_and_disjoint() {
    let tokens = valid_tokens();
    let text = tokens
        .iter()
        .rev()
        .map(|(_, t)| t.as_str())
        .collect::<Vec<_>>()
        .join("\n\nnext: ");
    let found = scan(&text);
    assert_eq!(found.len(), tokens.len());
    for pair in found.windows(2) {
        assert!(pair[0].end <= pair[1].start, "{pair:?}");
    }
}

fn assert_nothing(text: &str) {
    assert_eq!(scan(text), vec![], "in {text:?}");
}

#[test]
fn placeholders_and_lookalikes_are_not_secrets() {
    let long_x = "x".repeat(48);
    let cases = [
        // OpenAI
        format!("sk-{long_x}"),
        "sk-...".to_string(),
        "sk-xxxxxxxx".to_string(),
        "sk-YOUR_API_KEY".to_string(),
        "YOUR_API_KEY".to_string(),
        "sk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV".to_string(),
        "sk-1234567890abcdef1234567890abcdef".to_string(),
        "sk-thisisnotarealkeybutitislongenough1x2y".to_string(),
        format!("sk-{}", random_from(1, ALNUM, 24)),
        format!("sk-proj-YOUR_KEY{}", random_from(2, URL_SAFE, 40)),
        format!("ask-{}", random_from(1, ALNUM, 48)),
        "scikit: pip install sk-learn-extra-long-package-name-for-testing".to_string(),
        // Anthropic
        format!("sk-ant-api03-{}", "X".repeat(95)),
        "sk-ant-...".to_string(),
        // AWS
        "AKIAIOSFODNN7EXAMPLE".to_string(),
        "ASIANDEVELOPMENTBANK".to_string(),
        format!("AKIA{}", random_from(8, UPPER_DIGITS, 15)),
        format!("BKIA{}7", random_from(8, UPPER_DIGITS, 15)),
        format!("AKIA{}7X", random_from(8, UPPER_DIGITS, 15)),
        // GitHub, GitLab
        format!("ghp_{}", "x".repeat(36)),
        format!("ghp_{}", random_from(10, ALNUM, 20)),
        format!("ghx_{}", random_from(10, ALNUM, 36)),
        "glpat-xxxxxxxxxxxxxxxxxxxx".to_string(),
        format!("glpat-{}", random_from(15, URL_SAFE, 12)),
        // Google
        format!("AIza{}", random_from(16, URL_SAFE, 34)),
        format!("AIza{}", random_from(16, URL_SAFE, 36)),
        "AIzaSyYOUR_API_KEY_HERE_0123456789abcd".to_string(),
        // Slack
        "xoxb-your-token".to_string(),
        "xoxb-1234567890-1234567890-abcdefghijklmnopqrstuvwx".to_string(),
        "xoxb-0000000000-0000000000-XXXXXXXXXXXXXXXXXXXXXXXX".to_string(),
        "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX".to_string(),
        "https://hooks.slack.com/services/YOUR/WEBHOOK/URL".to_string(),
        // Stripe
        format!("sk_test_{}", random_from(27, ALNUM, 24)),
        format!("sk_live_{}", "x".repeat(24)),
        format!("sk_live_{}", random_from(27, ALNUM, 12)),
        // Hugging Face, npm, PyPI, SendGrid, Telegram
        format!("hf_{}", "x".repeat(34)),
        format!("hf_{}", random_from(30, LETTERS, 20)),
        format!("hf_{}1", random_from(30, LETTERS, 34)),
        format!("npm_{}", random_from(31, ALNUM, 35)),
        format!("pypi-AgEIcHlwaS5vcmc{}", "x".repeat(60)),
        format!("SG.{}.{}", "x".repeat(22), "x".repeat(43)),
        format!("123456789:AA{}", "x".repeat(33)),
        format!("123456789:AB{}", random_from(36, URL_SAFE, 33)),
    ];
    for text in &cases {
        assert_nothing(text);
        assert_nothing(&format!("the key is {text} here"));
    }
}

#[test]
fn aws_secret_key_needs_its_label() {
    let value = random_from(90, BASE64, 40);
    assert!(has_upper(&value) && has_lower(&value));
    let labelled = [
        format!("aws_secret_access_key = {value}"),
        format!("AWS_SECRET_ACCESS_KEY=\"{value}\""),
        format!("export AWS_SECRET_ACCESS_KEY={value}\n"),
        format!("{{\"SecretAccessKey\": \"{value}\"}}"),
        format!("AWS Secret Access Key [None]: {value}"),
        format!("aws_secret_key: '{value}'"),
        format!("s3 = boto3.client('s3', aws_secret_access_key='{value}')"),
    ];
    for text in &labelled {
        let (start, end) = code_point_range(text, &value);
        assert_eq!(
            scan(text),
            vec![Secret {
                kind: SecretKind::AwsSecretAccessKey,
                start,
                end
            }],
            "in {text:?}"
        );
    }
    assert_nothing(&format!("the hash is {value}"));
    assert_nothing(&format!("secret = {value}"));
    assert_nothing("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    assert_nothing(&format!("aws_secret_access_key = {value}A"));
    assert_nothing(&format!("aws_secret_access_key = {value}=="));
    assert_nothing(&format!("aws_secret_access_key = {}", value.to_ascii_lowercase()));
}

#[test]
fn jwt_header_must_be_json_with_alg() {
    assert_nothing(&jwt(r#"{"typ":"JWT"}"#, 1));
    assert_nothing(&jwt(r#"{"alg":7}"#, 2));
    assert_nothing(&jwt(r#"["alg","HS256"]"#, 3));
    assert_nothing(&format!(
        "eyJub3QganNvbiBhdCBhbGw.{}",
        jwt(r#"{"alg":"HS256"}"#, 4).split_once('.').unwrap().1
    ));
    // jwt.io's example token
    assert_nothing(
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    );
    // an unsigned token is not a credential
    let unsigned = jwt(r#"{"alg":"none"}"#, 5);
    let (head, _) = unsigned.rsplit_once('.').unwrap();
    assert_nothing(&format!("{head}."));
}

#[test]
fn private_key_block_runs_through_end_line() {
    let block = pem("RSA PRIVATE KEY", 7);
    let text = format!("here is my key:\n{block}\nwhy does ssh fail?");
    let (start, end) = code_point_range(&text, &block);
    assert_eq!(
        scan(&text),
        vec![Secret {
            kind: SecretKind::PrivateKey,
            start,
            end
        }]
    );
}

#[test]
fn private_key_cut_off_before_end_runs_through_last_base64_line() {
    let block = pem("OPENSSH PRIVATE KEY", 9);
    let cut = block.split("\n-----END").next().unwrap();
    let text = format!("{cut}\n\nit says invalid format, help");
    let (start, end) = code_point_range(&text, cut);
    assert_eq!(
        scan(&text),
        vec![Secret {
            kind: SecretKind::PrivateKey,
            start,
            end
        }]
    );
}

#[test]
fn private_key_placeholders_are_not_secrets() {
    assert_nothing("-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----");
    assert_nothing("-----BEGIN PRIVATE KEY-----\nYOUR_PRIVATE_KEY_HERE\n-----END PRIVATE KEY-----");
    assert_nothing(
        "-----BEGIN PRIVATE KEY-----\nPaste the contents of your private key file here, all of it, \
         including every line between the markers\n-----END PRIVATE KEY-----",
    );
    assert_nothing("key = '''-----BEGIN RSA PRIVATE KEY-----'''");
    assert_nothing(&pem("PUBLIC KEY", 3));
    assert_nothing(&pem("CERTIFICATE", 4));
}

#[test]
fn base64url_decoder_round_trips() {
    for len in 0..40 {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
        assert_eq!(decode_base64url(&base64url(&bytes)), Some(bytes));
    }
    assert_eq!(decode_base64url("A"), None);
    assert_eq!(decode_base64url("ab+c"), None);
}

#[test]
fn looks_random_rejects_runs_sequences_and_placeholders() {
    assert!(looks_random(&random_from(1, ALNUM, 48)));
    assert!(!looks_random("aB3dE5fG7hJ9kLLLLLmN1pQ2rS3tU4"));
    assert!(!looks_random("aB3dE5fG7hJ9kL0123456mN1pQ2rS3tU4"));
    assert!(!looks_random("aB3dE5fG7hJ9kLzyxwvumN1pQ2rS3tU4"));
    assert!(!looks_random("aB3dE5fG7hJ9kLYOURmN1pQ2rS3tU4"));
    assert!(!looks_random("abababababababababababababababab"));
}

/// Throughput on chat-like text with no secrets; run with `--ignored --nocapture`. Not a timed assertion: this
/// belongs in `benches/` once the crate has a criterion dev-dependency.
#[test]
#[ignore = "a throughput measurement, not a check: run with --ignored --nocapture"]
fn throughput_on_chat_text() {
    let paragraph = "Hello! Could you help me fix this code? I keep getting an error: TypeError: 'NoneType' object \
        is not subscriptable. Here is my key sk-... (placeholder) and the config api_key=YOUR_API_KEY.\n\
        你好，请帮我写一篇关于人工智能的文章，大约八百字。Привет, как дела? Напиши мне стихотворение.\n\
        def main():\n    token = os.environ['GITHUB_TOKEN']\n    print(f\"{token[:4]}...\")\n";
    let clean = paragraph.repeat(64 * 1024 * 1024 / paragraph.len());
    let token = format!(" sk-{} ", random_from(1, ALNUM, 48));
    let chunk = paragraph.repeat(64 * 1024 / paragraph.len());
    let with_keys = format!("{chunk}{token}").repeat(1024);
    let scanner = SecretScanner::new();
    for (name, text, expected) in [("no secrets", &clean, 0), ("one key per 64 KB", &with_keys, 1024)] {
        let started = std::time::Instant::now();
        let found = scanner.scan(text);
        let seconds = started.elapsed().as_secs_f64();
        assert_eq!(found.len(), expected);
        println!(
            "secret scan, {name}: {:.0} MB/s over {} MB",
            text.len() as f64 / seconds / 1e6,
            text.len() / 1_000_000
        );
    }
}
