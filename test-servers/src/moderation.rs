//! A moderation endpoint for tests: a real HTTP server on a free loopback port that speaks the
//! documented request and response shapes of OpenAI's `POST /v1/moderations` (bearer key,
//! `input` as a string or an array, `results` in input order with `flagged`, `categories` and
//! `category_scores` in the endpoint's slash spelling), and misbehaves on a schedule: 429 with
//! `Retry-After`, 500s and slow answers. Its verdicts come from [`expected_answer`], so a test
//! can compute what a release should hold.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::TestServerError;

/// The categories the server answers, in the endpoint's spelling (the last two are newer ones
/// the release schema does not carry).
pub const SERVED_CATEGORIES: [&str; 13] = [
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
    "illicit",
    "illicit/violent",
];

/// A category is flagged when its digest byte is at least this (5 in 256, about 2 % of texts).
const FLAG_FROM: u8 = 251;

/// When the server misbehaves: `*_every = N` hits requests 1, N + 1, 2N + 1, ... of all it
/// receives; 0 = never.
#[derive(Debug, Clone)]
pub struct ModerationServerOptions {
    /// The key a request's `Authorization: Bearer` must carry; others get 401.
    pub api_key: String,
    pub rate_limit_every: u64,
    /// `Retry-After` (seconds) of a 429; None sends none.
    pub retry_after_seconds: Option<u64>,
    /// `retry-after-ms` of a 429; None sends none.
    pub retry_after_ms: Option<u64>,
    pub server_error_every: u64,
    pub slow_every: u64,
    pub slow_delay: Duration,
    /// More inputs in one request get 400.
    pub max_inputs: usize,
}

impl Default for ModerationServerOptions {
    fn default() -> Self {
        ModerationServerOptions {
            api_key: "sk-test-moderation".to_string(),
            rate_limit_every: 0,
            retry_after_seconds: None,
            retry_after_ms: None,
            server_error_every: 0,
            slow_every: 0,
            slow_delay: Duration::from_secs(2),
            max_inputs: 64,
        }
    }
}

/// What the server saw and did.
#[derive(Debug, Default)]
pub struct ModerationServerStats {
    pub requests: AtomicU64,
    pub answered: AtomicU64,
    pub inputs_answered: AtomicU64,
    pub rate_limited: AtomicU64,
    pub server_errors: AtomicU64,
    pub slow: AtomicU64,
    pub unauthorized: AtomicU64,
    pub bad_requests: AtomicU64,
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    pub max_batch: AtomicUsize,
}

/// The server, stopped (its thread joined) when dropped.
pub struct ModerationServer {
    address: SocketAddr,
    stats: Arc<ModerationServerStats>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ModerationServer {
    pub fn start(options: ModerationServerOptions) -> Result<ModerationServer, TestServerError> {
        let setup = |error: std::io::Error| TestServerError::Setup(format!("moderation server: {error}"));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(setup)?;
        listener.set_nonblocking(true).map_err(setup)?;
        let address = listener.local_addr().map_err(setup)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(setup)?;
        let stats = Arc::new(ModerationServerStats::default());
        let (shutdown, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let served = Arc::clone(&stats);
        let options = Arc::new(options);
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                loop {
                    let accepted = tokio::select! {
                        _ = &mut stopped => return,
                        accepted = listener.accept() => accepted,
                    };
                    let Ok((stream, _)) = accepted else { continue };
                    let (stats, options) = (Arc::clone(&served), Arc::clone(&options));
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |request| {
                            answer(request, Arc::clone(&stats), Arc::clone(&options))
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        Ok(ModerationServer {
            address,
            stats,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The base URL a client configures (`…/v1`; requests go to `…/v1/moderations`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.address)
    }

    pub fn stats(&self) -> &ModerationServerStats {
        &self.stats
    }
}

impl Drop for ModerationServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The server's verdict on `text`: per category, a score from one byte of sha256(text) and a
/// flag when that byte is at least 251; `flagged` when any category is.
pub fn expected_answer(text: &str) -> Value {
    let digest = Sha256::digest(text.as_bytes());
    let mut categories = Map::new();
    let mut scores = Map::new();
    let mut flagged = false;
    for (index, name) in SERVED_CATEGORIES.iter().enumerate() {
        let byte = digest[index];
        flagged |= byte >= FLAG_FROM;
        categories.insert(name.to_string(), Value::Bool(byte >= FLAG_FROM));
        scores.insert(name.to_string(), json!(f64::from(byte) / 255.0));
    }
    json!({"flagged": flagged, "categories": categories, "category_scores": scores})
}

fn respond(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn error(status: StatusCode, message: &str, kind: &str) -> Response<Full<Bytes>> {
    respond(
        status,
        json!({"error": {"message": message, "type": kind, "param": null, "code": null}}),
    )
}

async fn answer(
    request: Request<Incoming>,
    stats: Arc<ModerationServerStats>,
    options: Arc<ModerationServerOptions>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let number = stats.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let in_flight = stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    stats.max_in_flight.fetch_max(in_flight, Ordering::SeqCst);
    let response = handle(number, request, &stats, &options).await;
    stats.in_flight.fetch_sub(1, Ordering::SeqCst);
    Ok(response)
}

async fn handle(
    number: u64,
    request: Request<Incoming>,
    stats: &ModerationServerStats,
    options: &ModerationServerOptions,
) -> Response<Full<Bytes>> {
    // Requests 1, 1 + every, 1 + 2 * every, ... misbehave, so a retry of the first one succeeds.
    let due = |every: u64| every > 0 && (number - 1).is_multiple_of(every);
    if request.method() != hyper::Method::POST || !request.uri().path().ends_with("/moderations") {
        stats.bad_requests.fetch_add(1, Ordering::SeqCst);
        return error(StatusCode::NOT_FOUND, "unknown endpoint", "invalid_request_error");
    }
    let authorised = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        == Some(format!("Bearer {}", options.api_key).as_str());
    if !authorised {
        stats.unauthorized.fetch_add(1, Ordering::SeqCst);
        return error(
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided",
            "invalid_request_error",
        );
    }
    let Ok(body) = request.into_body().collect().await else {
        stats.bad_requests.fetch_add(1, Ordering::SeqCst);
        return error(StatusCode::BAD_REQUEST, "unreadable body", "invalid_request_error");
    };
    if due(options.rate_limit_every) {
        stats.rate_limited.fetch_add(1, Ordering::SeqCst);
        let mut response = error(StatusCode::TOO_MANY_REQUESTS, "Rate limit reached", "requests");
        if let Some(seconds) = options.retry_after_seconds {
            response.headers_mut().insert("retry-after", seconds.into());
        }
        if let Some(millis) = options.retry_after_ms {
            response.headers_mut().insert("retry-after-ms", millis.into());
        }
        return response;
    }
    if due(options.server_error_every) {
        stats.server_errors.fetch_add(1, Ordering::SeqCst);
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server had an error",
            "server_error",
        );
    }
    if due(options.slow_every) {
        stats.slow.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(options.slow_delay).await;
    }
    let Ok(parsed) = serde_json::from_slice::<Value>(&body.to_bytes()) else {
        stats.bad_requests.fetch_add(1, Ordering::SeqCst);
        return error(StatusCode::BAD_REQUEST, "body is not JSON", "invalid_request_error");
    };
    let inputs: Vec<String> = match parsed.get("input") {
        Some(Value::String(text)) => vec![text.clone()],
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(|item| item.as_str().map(str::to_string))
            .collect(),
        _ => {
            stats.bad_requests.fetch_add(1, Ordering::SeqCst);
            return error(
                StatusCode::BAD_REQUEST,
                "input must be a string or an array of strings",
                "invalid_request_error",
            );
        }
    };
    if inputs.is_empty() || inputs.len() > options.max_inputs {
        stats.bad_requests.fetch_add(1, Ordering::SeqCst);
        return error(
            StatusCode::BAD_REQUEST,
            "too many or no inputs",
            "invalid_request_error",
        );
    }
    stats.max_batch.fetch_max(inputs.len(), Ordering::SeqCst);
    stats.answered.fetch_add(1, Ordering::SeqCst);
    stats.inputs_answered.fetch_add(inputs.len() as u64, Ordering::SeqCst);
    let model = parsed
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("omni-moderation-latest");
    let results: Vec<Value> = inputs.iter().map(|text| expected_answer(text)).collect();
    respond(
        StatusCode::OK,
        json!({"id": format!("modr-{number}"), "model": model, "results": results}),
    )
}
