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

/// Serves until `stop` turns true.
pub async fn serve(listener: TcpListener, state: Arc<EndpointState>, mut stop: watch::Receiver<bool>) {
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
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(respond(&state, &request)) }
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

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

fn respond(state: &EndpointState, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    const PLAIN: &str = "text/plain; charset=utf-8";
    match request.uri().path() {
        "/healthz" => {
            if state.serving.load(Ordering::Relaxed) {
                text(StatusCode::OK, PLAIN, "ok\n".to_string())
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, PLAIN, "stopping\n".to_string())
            }
        }
        "/metrics" => match state.metrics.render() {
            Ok(body) => text(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", body),
            Err(error) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                PLAIN,
                format!("cannot encode metrics: {error}\n"),
            ),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            PLAIN,
            "not found: try /healthz or /metrics\n".to_string(),
        ),
    }
}
