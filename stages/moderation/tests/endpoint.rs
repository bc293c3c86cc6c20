//! The client against a real HTTP server speaking the moderation endpoint's shapes
//! (test-servers): batching, limits, retries on 429 (honouring `Retry-After`), 500s and slow
//! answers, and the errors a caller sees when the endpoint keeps failing or refuses the key.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use moderation::cache::ModerationCache;
use moderation::client::ModerationError;
use moderation::{ModerationClient, ModerationConfig, CATEGORIES};
use test_servers::moderation::{expected_answer, ModerationServer, ModerationServerOptions};

struct Setup {
    server: ModerationServer,
    _key_directory: tempfile::TempDir,
    config: ModerationConfig,
}

fn setup(options: ModerationServerOptions) -> Setup {
    let key_directory = tempfile::tempdir().unwrap();
    let key_file = key_directory.path().join("key");
    std::fs::write(&key_file, format!("{}\n", options.api_key)).unwrap();
    let server = ModerationServer::start(options).unwrap();
    let config = ModerationConfig {
        base_url: server.base_url(),
        model: "omni-moderation-latest".to_string(),
        api_key_env: "UNUSED".to_string(),
        api_key_file: Some(key_file),
        batch_size: 4,
        concurrency: 2,
        requests_per_minute: 60_000,
        max_attempts: 4,
        timeout: Duration::from_secs(5),
    };
    Setup {
        server,
        _key_directory: key_directory,
        config,
    }
}

fn texts(count: usize) -> Vec<String> {
    (0..count)
        .map(|index| format!("turn number {index}: how do I sort a list?"))
        .collect()
}

fn borrowed(texts: &[String]) -> Vec<&str> {
    texts.iter().map(String::as_str).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_come_back_in_input_order_with_both_spellings_and_within_the_limits() {
    let Setup {
        server,
        config,
        _key_directory: _keys,
    } = setup(ModerationServerOptions::default());
    let client = ModerationClient::new(config).unwrap();
    let owned = texts(30);
    let results = client.moderate(&borrowed(&owned)).await.unwrap();
    assert_eq!(results.len(), 30);
    let mut flagged = 0;
    for (text, result) in owned.iter().zip(&results) {
        let expected = moderation::parse_result(&expected_answer(text)).unwrap();
        assert_eq!(result, &expected);
        // Every one of the 18 release keys is answered, slash and underscore forms alike.
        assert!(result.categories.iter().all(Option::is_some), "{result:?}");
        assert!(result.category_scores.iter().all(Option::is_some), "{result:?}");
        for (index, key) in CATEGORIES.iter().enumerate() {
            let served = key.replace('_', "/").replace("self/harm", "self-harm");
            let answer = expected_answer(text);
            if let Some(value) = answer["categories"].get(&served) {
                assert_eq!(result.categories[index], value.as_bool(), "{key}");
            }
        }
        flagged += u64::from(result.flagged);
    }
    assert!(flagged < 30);
    let stats = server.stats();
    assert_eq!(stats.answered.load(Ordering::SeqCst), 8, "30 texts in batches of 4");
    assert!(stats.max_batch.load(Ordering::SeqCst) <= 4);
    assert!(stats.max_in_flight.load(Ordering::SeqCst) <= 2);
    assert_eq!(client.stats().texts, 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_retried_no_sooner_than_its_retry_after() {
    let Setup {
        server,
        mut config,
        _key_directory: _keys,
    } = setup(ModerationServerOptions {
        rate_limit_every: 2,
        retry_after_seconds: Some(1),
        ..ModerationServerOptions::default()
    });
    config.concurrency = 1;
    let client = ModerationClient::new(config).unwrap();
    let owned = texts(3);
    let started = Instant::now();
    let results = client.moderate(&borrowed(&owned)).await.unwrap();
    assert_eq!(results.len(), 3);
    assert!(started.elapsed() >= Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!(server.stats().rate_limited.load(Ordering::SeqCst), 1);
    assert_eq!((client.stats().retries, client.stats().rate_limited), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_slow_answers_are_retried() {
    let Setup {
        server,
        config,
        _key_directory: _keys,
    } = setup(ModerationServerOptions {
        server_error_every: 2,
        ..ModerationServerOptions::default()
    });
    let client = ModerationClient::new(config).unwrap();
    let owned = texts(12);
    let results = client.moderate(&borrowed(&owned)).await.unwrap();
    assert_eq!(results.len(), 12);
    assert!(server.stats().server_errors.load(Ordering::SeqCst) >= 1);
    assert_eq!(server.stats().answered.load(Ordering::SeqCst), 3);

    let Setup {
        server,
        mut config,
        _key_directory: _keys,
    } = setup(ModerationServerOptions {
        slow_every: 2,
        slow_delay: Duration::from_secs(3),
        ..ModerationServerOptions::default()
    });
    config.timeout = Duration::from_millis(300);
    config.concurrency = 1;
    let client = ModerationClient::new(config).unwrap();
    let results = client.moderate(&borrowed(&owned[..4])).await.unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(server.stats().slow.load(Ordering::SeqCst), 1);
    assert_eq!(client.stats().retries, 1, "the timed-out attempt is retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_keeps_failing_or_refuses_the_key_is_an_error_not_a_null() {
    let Setup {
        server,
        mut config,
        _key_directory: _keys,
    } = setup(ModerationServerOptions {
        server_error_every: 1,
        ..ModerationServerOptions::default()
    });
    config.max_attempts = 3;
    let client = ModerationClient::new(config.clone()).unwrap();
    let error = client.moderate(&["hello"]).await.unwrap_err();
    assert!(matches!(error, ModerationError::GaveUp { attempts: 3, .. }), "{error}");
    assert!(error.to_string().contains("500"), "{error}");
    assert_eq!(server.stats().requests.load(Ordering::SeqCst), 3);

    let Setup {
        server,
        mut config,
        _key_directory: _keys,
    } = setup(ModerationServerOptions::default());
    let wrong_key = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(wrong_key.path(), "sk-wrong").unwrap();
    config.api_key_file = Some(wrong_key.path().to_path_buf());
    let client = ModerationClient::new(config).unwrap();
    let error = client.moderate(&["hello"]).await.unwrap_err();
    assert!(matches!(error, ModerationError::Refused { .. }), "{error}");
    assert!(error.to_string().contains("401"), "{error}");
    assert!(
        !error.to_string().contains("sk-wrong"),
        "the key never reaches a message"
    );
    assert_eq!(
        server.stats().requests.load(Ordering::SeqCst),
        1,
        "a refusal is not retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_requests_per_minute_budget_spaces_request_starts() {
    let Setup {
        server,
        mut config,
        _key_directory: _keys,
    } = setup(ModerationServerOptions::default());
    config.requests_per_minute = 600;
    config.concurrency = 8;
    config.batch_size = 1;
    let client = ModerationClient::new(config).unwrap();
    let owned = texts(5);
    let started = Instant::now();
    client.moderate(&borrowed(&owned)).await.unwrap();
    // Five starts 100 ms apart: the last one no sooner than 400 ms after the first.
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.stats().answered.load(Ordering::SeqCst), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_asks_only_about_texts_it_has_not_seen() {
    let Setup {
        server,
        config,
        _key_directory: _keys,
    } = setup(ModerationServerOptions::default());
    let client = ModerationClient::new(config).unwrap();
    let owned = texts(6);
    let mut with_repeats = borrowed(&owned);
    with_repeats.extend(borrowed(&owned[..3]));
    let mut cache = ModerationCache::default();
    let (first, cached) = cache.moderate(&client, "openai:test", &with_repeats).await.unwrap();
    assert_eq!((first.len(), cached), (9, 3));
    assert_eq!(server.stats().inputs_answered.load(Ordering::SeqCst), 6);
    let mut reloaded = ModerationCache::decode(&cache.encode()).unwrap();
    let (again, cached) = reloaded.moderate(&client, "openai:test", &with_repeats).await.unwrap();
    assert_eq!((again, cached), (first, 9));
    assert_eq!(
        server.stats().inputs_answered.load(Ordering::SeqCst),
        6,
        "nothing asked again"
    );
}
