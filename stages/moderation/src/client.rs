//! The `/v1/moderations` client: array input in batches, at most `concurrency` requests in
//! flight and `requests_per_minute` request starts per minute, retries with backoff on 429, 5xx,
//! timeouts and broken answers (waiting at least what `Retry-After` says). A batch that cannot
//! be moderated after its attempts is an error for the caller (the job fails and the queue
//! retries it), never a silent null. Texts never reach a log line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use shared::retry::Backoff;
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;

use crate::config::{ConfigError, ModerationConfig};
use crate::ModerationResult;

/// The longest `Retry-After` honoured; a longer one is treated as this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// How much of an error body a message quotes.
const QUOTED_BODY: usize = 200;

/// Why a batch could not be moderated.
#[derive(Debug, thiserror::Error)]
pub enum ModerationError {
    #[error("moderation endpoint {url} still failing after {attempts} attempts: {last}")]
    GaveUp { url: String, attempts: u32, last: String },
    #[error("moderation endpoint {url} refused the request: {reason}")]
    Refused { url: String, reason: String },
}

/// What one attempt ran into.
#[derive(Debug)]
struct AttemptError {
    message: String,
    retryable: bool,
    retry_after: Option<Duration>,
}

impl AttemptError {
    fn retryable(message: String) -> AttemptError {
        AttemptError {
            message,
            retryable: true,
            retry_after: None,
        }
    }
}

/// What the client has done so far (for the job's work counters and the worker's metrics).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ModerationStats {
    pub requests: u64,
    pub texts: u64,
    pub retries: u64,
    pub rate_limited: u64,
}

#[derive(Default)]
struct AtomicStats {
    requests: AtomicU64,
    texts: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
}

pub struct ModerationClient {
    config: ModerationConfig,
    url: String,
    authorization: String,
    http: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    in_flight: Semaphore,
    next_start: Mutex<Instant>,
    backoff: Backoff,
    stats: AtomicStats,
}

impl std::fmt::Debug for ModerationClient {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ModerationClient")
            .field("url", &self.url)
            .field("model", &self.config.model)
            .field("api_key", &"<redacted>")
            .finish()
    }
}

impl ModerationClient {
    /// A client of `config`'s endpoint; reads the API key now, so a missing key fails the start.
    pub fn new(config: ModerationConfig) -> Result<ModerationClient, ConfigError> {
        let api_key = config.api_key()?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|error| ConfigError::MissingKey(format!("no TLS root certificates: {error}")))?
            .https_or_http()
            .enable_http1()
            .build();
        let http = Client::builder(TokioExecutor::new()).build(connector);
        Ok(ModerationClient {
            url: format!("{}/moderations", config.base_url),
            authorization: format!("Bearer {api_key}"),
            http,
            in_flight: Semaphore::new(config.concurrency),
            next_start: Mutex::new(Instant::now()),
            backoff: Backoff {
                base_delay: Duration::from_millis(500),
                max_delay: Duration::from_secs(30),
                max_attempts: config.max_attempts,
            },
            stats: AtomicStats::default(),
            config,
        })
    }

    pub fn config(&self) -> &ModerationConfig {
        &self.config
    }

    /// The source's id in fingerprints and cache keys (`openai:MODEL@BASE_URL`).
    pub fn source_id(&self) -> String {
        self.config.id()
    }

    pub fn stats(&self) -> ModerationStats {
        ModerationStats {
            requests: self.stats.requests.load(Ordering::Relaxed),
            texts: self.stats.texts.load(Ordering::Relaxed),
            retries: self.stats.retries.load(Ordering::Relaxed),
            rate_limited: self.stats.rate_limited.load(Ordering::Relaxed),
        }
    }

    /// One answer per text, in order. Batches run concurrently within the client's limits.
    pub async fn moderate(&self, texts: &[&str]) -> Result<Vec<ModerationResult>, ModerationError> {
        let batches = texts
            .chunks(self.config.batch_size)
            .map(|batch| self.moderate_batch(batch));
        let answers = futures_util::future::join_all(batches).await;
        let mut results = Vec::with_capacity(texts.len());
        for answer in answers {
            results.extend(answer?);
        }
        Ok(results)
    }

    async fn moderate_batch(&self, batch: &[&str]) -> Result<Vec<ModerationResult>, ModerationError> {
        let body = Bytes::from(json!({"model": self.config.model, "input": batch}).to_string());
        let outcome = self
            .backoff
            .retry_with_hint(
                || self.attempt(body.clone(), batch.len()),
                |error| error.retryable,
                |error| error.retry_after,
                |error, attempt| {
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(url = %self.url, attempt, error = %error.message, "moderation request retried");
                },
            )
            .await;
        match outcome {
            Ok(results) => {
                self.stats.texts.fetch_add(batch.len() as u64, Ordering::Relaxed);
                Ok(results)
            }
            Err(error) if error.retryable => Err(ModerationError::GaveUp {
                url: self.url.clone(),
                attempts: self.config.max_attempts,
                last: error.message,
            }),
            Err(error) => Err(ModerationError::Refused {
                url: self.url.clone(),
                reason: error.message,
            }),
        }
    }

    /// Waits for a free slot and the next start the per-minute budget allows.
    async fn wait_for_turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>, AttemptError> {
        let permit = self
            .in_flight
            .acquire()
            .await
            .map_err(|_| AttemptError::retryable("the client is shutting down".to_string()))?;
        let start = {
            let mut next_start = self.next_start.lock().await;
            let start = (*next_start).max(Instant::now());
            *next_start = start + self.config.request_interval();
            start
        };
        tokio::time::sleep_until(start).await;
        Ok(permit)
    }

    async fn attempt(&self, body: Bytes, expected: usize) -> Result<Vec<ModerationResult>, AttemptError> {
        let _permit = self.wait_for_turn().await?;
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let request = Request::post(&self.url)
            .header(AUTHORIZATION, &self.authorization)
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, "wildchat-pipeline")
            .body(Full::new(body))
            .map_err(|error| AttemptError {
                message: format!("cannot build the request: {error}"),
                retryable: false,
                retry_after: None,
            })?;
        let exchange = async {
            let response = self.http.request(request).await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((status, headers, body))
        };
        let (status, headers, body) = match tokio::time::timeout(self.config.timeout, exchange).await {
            Err(_) => {
                return Err(AttemptError::retryable(format!(
                    "no answer within {} ms",
                    self.config.timeout.as_millis()
                )))
            }
            Ok(Err(error)) => return Err(AttemptError::retryable(format!("transport error: {error}"))),
            Ok(Ok(exchange)) => exchange,
        };
        if !status.is_success() {
            return Err(self.status_error(status, &headers, &body));
        }
        parse_results(&body, expected).map_err(AttemptError::retryable)
    }

    fn status_error(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> AttemptError {
        let rate_limited = status == StatusCode::TOO_MANY_REQUESTS;
        if rate_limited {
            self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
        }
        let quoted: String = String::from_utf8_lossy(body).chars().take(QUOTED_BODY).collect();
        AttemptError {
            message: format!("HTTP {status}: {quoted}"),
            // 408 and 409 are what OpenAI's own clients retry besides 429 and 5xx.
            retryable: rate_limited
                || status.is_server_error()
                || status == StatusCode::REQUEST_TIMEOUT
                || status == StatusCode::CONFLICT,
            retry_after: retry_after(headers),
        }
    }
}

/// `retry-after-ms` (milliseconds, OpenAI's) or `Retry-After` in seconds; an HTTP date is
/// left to the backoff.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| -> Option<f64> {
        headers
            .get(name)?
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|value| value.is_finite() && *value >= 0.0)
    };
    let wait = number("retry-after-ms")
        .map(|millis| Duration::from_secs_f64(millis / 1000.0))
        .or_else(|| number("retry-after").map(|seconds| Duration::from_secs_f64(seconds.min(1e6))))?;
    Some(wait.min(MAX_RETRY_AFTER))
}

/// The `results` of a 200 answer, one per input, in order.
fn parse_results(body: &[u8], expected: usize) -> Result<Vec<ModerationResult>, String> {
    let answer: Value = serde_json::from_slice(body).map_err(|error| format!("the answer is not JSON: {error}"))?;
    let results = answer
        .get("results")
        .and_then(Value::as_array)
        .ok_or("the answer has no results array")?;
    if results.len() != expected {
        return Err(format!("{} results for {expected} inputs", results.len()));
    }
    results
        .iter()
        .enumerate()
        .map(|(index, result)| crate::parse_result(result).map_err(|reason| format!("result {index}: {reason}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_prefers_milliseconds_and_caps_long_waits() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
        headers.remove("retry-after-ms");
        headers.insert("retry-after", "86400".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(MAX_RETRY_AFTER));
        headers.insert("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn an_answer_with_the_wrong_number_of_results_is_rejected() {
        let body = br#"{"id":"x","model":"m","results":[{"flagged":false,"categories":{},"category_scores":{}}]}"#;
        assert_eq!(parse_results(body, 1).unwrap().len(), 1);
        assert!(parse_results(body, 2).unwrap_err().contains("1 results for 2 inputs"));
        assert!(parse_results(b"<html>", 1).unwrap_err().contains("not JSON"));
    }
}
