//! The worker's HTTP endpoint: `/healthz` (200 while serving, 503 once stopping) and
//! `/metrics` (Prometheus text format). HTTP/1.1 only, one task per connection.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{debug, warn};

use super::metrics::WorkerMetrics;

/// What the endpoint reports.
#[derive(Debug)]
pub struct EndpointState {
    pub metrics: Arc<WorkerMetrics>,
    /// False once the worker stops taking work.
    pub serving: AtomicBool,
}

/// A reply of [`serve_with`]'s responder: status code, content type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    pub const PLAIN: &'static str = "text/plain; charset=utf-8";
    pub const PROMETHEUS: &'static str = "text/plain; version=0.0.4; charset=utf-8";
    pub const JSON: &'static str = "application/json";

    pub fn new(status: u16, content_type: &'static str, body: impl Into<String>) -> Reply {
        Reply {
            status,
            content_type,
            body: body.into(),
        }
    }
}

/// Answers a request path (GET only is meaningful here: every endpoint is read-only).
pub type Responder = Arc<dyn Fn(&str) -> Reply + Send + Sync>;

/// Serves the worker's endpoint until `stop` turns true.
pub async fn serve(listener: TcpListener, state: Arc<EndpointState>, stop: watch::Receiver<bool>) {
    serve_with(listener, Arc::new(move |path: &str| respond(&state, path)), stop).await
}

/// Serves `responder` over HTTP/1.1 until `stop` turns true; one task per connection. The
/// coordinator's `/metrics` uses it too.
pub async fn serve_with(listener: TcpListener, responder: Responder, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(error) => {
                warn!(error = %error, "metrics endpoint cannot accept a connection");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let responder = responder.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let reply = responder(request.uri().path());
                async move { Ok::<_, Infallible>(to_response(reply)) }
            });
            if let Err(error) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                debug!(error = %error, "metrics endpoint connection ended with an error");
            }
        });
    }
}

fn to_response(reply: Reply) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(value) = hyper::header::HeaderValue::from_str(reply.content_type) {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

fn respond(state: &EndpointState, path: &str) -> Reply {
    match path {
        "/healthz" => {
            if state.serving.load(Ordering::Relaxed) {
                Reply::new(200, Reply::PLAIN, "ok\n")
            } else {
                Reply::new(503, Reply::PLAIN, "stopping\n")
            }
        }
        "/metrics" => match state.metrics.render() {
            Ok(body) => Reply::new(200, Reply::PROMETHEUS, body),
            Err(error) => Reply::new(500, Reply::PLAIN, format!("cannot encode metrics: {error}\n")),
        },
        _ => Reply::new(404, Reply::PLAIN, "not found: try /healthz or /metrics\n"),
    }
}
