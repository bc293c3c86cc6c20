//! The HTTP side: routes, the access token, security headers and the page handlers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::extract::{Path, Query, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use storage::ObjectStore;
use tokio::runtime::Handle;

use crate::catalog::Sort;
use crate::pages::{self, Comparison, Facets, Overview, Params};
use crate::store_cache::{open_version, Loaded, OpenOptions};

/// What `release serve` was asked for.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub version: String,
    /// `full` or `nontoxic`.
    pub variant: String,
    pub listen: SocketAddr,
    /// The access token; required to bind a non-loopback address or to serve `full`.
    pub token: Option<String>,
    /// Local directory for shard copies and index files.
    pub cache_dir: PathBuf,
}

/// Name of the cookie that carries sha256(token) after a login.
const COOKIE: &str = "wildchat_explorer";
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
form-action 'self'; base-uri 'none'; frame-ancestors 'none'; connect-src 'self'";
const CHART_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'";
const STYLESHEET: &str = include_str!("assets/explorer.css");
const SCRIPT: &str = include_str!("assets/explorer.js");

struct App {
    store: Arc<dyn ObjectStore>,
    served: Arc<Loaded>,
    facets: Facets,
    /// hex sha256 of the token.
    token_digest: Option<String>,
    cache_dir: PathBuf,
    others: tokio::sync::Mutex<HashMap<String, Arc<Loaded>>>,
    comparisons: Mutex<HashMap<String, Arc<Comparison>>>,
}

/// Refuses the combinations the issue of a token guards: a non-loopback address or the `full`
/// variant (toxic content) without a token.
pub fn check_options(options: &ServeOptions) -> anyhow::Result<()> {
    if options.token.as_deref().is_some_and(|token| token.trim().is_empty()) {
        anyhow::bail!("the access token is empty");
    }
    if options.token.is_none() && !options.listen.ip().is_loopback() {
        anyhow::bail!(
            "binding {} (not a loopback address) needs an access token: pass --token-file FILE or set WILDCHAT_EXPLORER_TOKEN",
            options.listen
        );
    }
    if options.token.is_none() && options.variant == "full" {
        anyhow::bail!(
            "the full variant holds toxic conversations and is served only with an access token: pass --token-file FILE or set WILDCHAT_EXPLORER_TOKEN (or serve --variant nontoxic)"
        );
    }
    Ok(())
}

/// Opens the version (building and caching its catalog and index when needed), binds and
/// serves until interrupted. Prints `explorer: serving ... at http://ADDRESS/` once ready.
pub async fn serve(store: Arc<dyn ObjectStore>, options: ServeOptions) -> anyhow::Result<()> {
    check_options(&options)?;
    let open = OpenOptions {
        cache_dir: options.cache_dir.clone(),
        with_index: true,
        progress: true,
    };
    let (version, variant, handle, opener) = (
        options.version.clone(),
        options.variant.clone(),
        Handle::current(),
        store.clone(),
    );
    let served = tokio::task::spawn_blocking(move || {
        let served = open_version(opener, handle, &version, &variant, &open)?;
        for sort in Sort::ALL {
            served.catalog.order(sort);
        }
        anyhow::Ok(served)
    })
    .await??;
    let app = Arc::new(App {
        store,
        facets: Facets::of(&served.catalog),
        served: Arc::new(served),
        token_digest: options.token.as_deref().map(digest),
        cache_dir: options.cache_dir.clone(),
        others: tokio::sync::Mutex::new(HashMap::new()),
        comparisons: Mutex::new(HashMap::new()),
    });
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("binding {}", options.listen))?;
    let address = listener.local_addr()?;
    println!(
        "explorer: serving {}/{} ({} conversations) at http://{address}/",
        options.version,
        options.variant,
        app.served.catalog.len()
    );
    use std::io::Write;
    std::io::stdout().flush()?;
    axum::serve(listener, router(app))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(overview))
        .route("/browse", get(browse))
        .route("/search", get(search))
        .route("/conversation/{hash}", get(conversation))
        .route("/compare", get(compare))
        .route("/basket", get(basket))
        .route("/basket.txt", get(basket_file))
        .route("/chart/{name}", get(chart))
        .route("/static/explorer.css", get(stylesheet))
        .route("/static/explorer.js", get(script))
        .route("/login", get(login_form).post(login))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .layer(middleware::from_fn(security_headers))
        .with_state(app)
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

/// Compares without stopping at the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(headers: &HeaderMap, token_digest: &str) -> bool {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|token| same(&digest(token), token_digest));
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == COOKIE && same(value, token_digest));
    bearer || cookie
}

async fn guard(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let Some(token_digest) = &app.token_digest else {
        return next.run(request).await;
    };
    let path = request.uri().path();
    if path.starts_with("/static/") || path == "/login" || authorized(request.headers(), token_digest) {
        return next.run(request).await;
    }
    (StatusCode::UNAUTHORIZED, Html(pages::login_page(false))).into_response()
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let is_svg = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"image/svg+xml"));
    let policy = if is_svg { CHART_POLICY } else { PAGE_POLICY };
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login_form() -> Html<String> {
    Html(pages::login_page(false))
}

async fn login(State(app): State<Arc<App>>, Form(form): Form<LoginForm>) -> Response {
    match &app.token_digest {
        Some(expected) if same(&digest(&form.token), expected) => {
            let cookie = format!("{COOKIE}={expected}; HttpOnly; SameSite=Strict; Path=/");
            let mut response = Redirect::to("/").into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Some(_) => (StatusCode::UNAUTHORIZED, Html(pages::login_page(true))).into_response(),
        None => Redirect::to("/").into_response(),
    }
}

async fn overview(State(app): State<Arc<App>>) -> Response {
    let channels = match release::channels::list_channels(app.store.as_ref()).await {
        Ok(channels) => channels
            .into_iter()
            .map(|channel| (channel.channel, channel.version, channel.revision))
            .collect(),
        Err(error) => {
            tracing::warn!("listing channels: {error:#}");
            Vec::new()
        }
    };
    Html(pages::overview_page(&app.served, &Overview { channels })).into_response()
}

async fn results(app: Arc<App>, params: Params, search_page: bool) -> Response {
    let rendered = tokio::task::spawn_blocking(move || {
        let outcome = pages::results(&app.served, &params);
        let status = if outcome.is_ok() {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        };
        (
            status,
            pages::results_page(&app.served, &app.facets, &params, outcome, search_page),
        )
    })
    .await;
    match rendered {
        Ok((status, page)) => (status, Html(page)).into_response(),
        Err(error) => internal(error.into()),
    }
}

async fn browse(State(app): State<Arc<App>>, Query(params): Query<Params>) -> Response {
    results(app, params, false).await
}

async fn search(State(app): State<Arc<App>>, Query(params): Query<Params>) -> Response {
    results(app, params, true).await
}

fn internal(error: anyhow::Error) -> Response {
    tracing::error!("explorer: {error:#}");
    (StatusCode::INTERNAL_SERVER_ERROR, format!("internal error: {error:#}")).into_response()
}

/// Another version's catalog (for compare and its conversations), opened once.
async fn other_version(app: &Arc<App>, version: &str) -> anyhow::Result<Arc<Loaded>> {
    if version == app.served.version() {
        return Ok(app.served.clone());
    }
    let mut others = app.others.lock().await;
    if let Some(loaded) = others.get(version) {
        return Ok(loaded.clone());
    }
    let open = OpenOptions {
        cache_dir: app.cache_dir.clone(),
        with_index: false,
        progress: true,
    };
    let (store, handle, name, variant) = (
        app.store.clone(),
        Handle::current(),
        version.to_string(),
        app.served.variant.clone(),
    );
    let loaded =
        Arc::new(tokio::task::spawn_blocking(move || open_version(store, handle, &name, &variant, &open)).await??);
    others.insert(version.to_string(), loaded.clone());
    Ok(loaded)
}

#[derive(Deserialize)]
struct ConversationParams {
    version: Option<String>,
    q: Option<String>,
}

async fn conversation(
    State(app): State<Arc<App>>,
    Path(hash): Path<String>,
    Query(params): Query<ConversationParams>,
) -> Response {
    let loaded = match params.version.as_deref().filter(|version| !version.is_empty()) {
        None => app.served.clone(),
        Some(version) => match other_version(&app, version).await {
            Ok(loaded) => loaded,
            Err(error) => {
                return (
                    StatusCode::NOT_FOUND,
                    Html(pages::message_page(&app.served, "Not found", &format!("{error:#}"))),
                )
                    .into_response()
            }
        },
    };
    let Some(ordinal) = loaded.catalog.ordinal_of(&hash) else {
        let message = format!("version {} has no conversation {hash}", loaded.version());
        return (
            StatusCode::NOT_FOUND,
            Html(pages::message_page(&app.served, "Not found", &message)),
        )
            .into_response();
    };
    let served_version = app.served.version().to_string();
    let query = params.q.unwrap_or_default();
    let rendered = tokio::task::spawn_blocking(move || {
        let row = loaded.conversation(ordinal)?;
        anyhow::Ok(pages::conversation_page(
            &loaded,
            ordinal,
            &row,
            &query,
            &served_version,
        ))
    })
    .await;
    match rendered {
        Ok(Ok(page)) => Html(page).into_response(),
        Ok(Err(error)) => internal(error),
        Err(error) => internal(error.into()),
    }
}

#[derive(Deserialize)]
struct CompareParams {
    with: Option<String>,
}

async fn compare(State(app): State<Arc<App>>, Query(params): Query<CompareParams>) -> Response {
    let versions = match release::manifest::list_versions(app.store.as_ref()).await {
        Ok(versions) => versions,
        Err(error) => return internal(error),
    };
    let served = app.served.version().to_string();
    let default = app
        .served
        .manifest
        .parent
        .clone()
        .or_else(|| versions.iter().rfind(|version| **version < served).cloned());
    let chosen = params.with.filter(|version| !version.is_empty());
    let selected = chosen.clone().or(default).unwrap_or_default();
    let outcome = match chosen {
        None => None,
        Some(base) => Some(comparison(&app, &base).await.map_err(|error| format!("{error:#}"))),
    };
    Html(pages::compare_page(&app.served, &versions, &selected, outcome)).into_response()
}

async fn comparison(app: &Arc<App>, base: &str) -> anyhow::Result<(Arc<Loaded>, Arc<Comparison>)> {
    if base == app.served.version() {
        anyhow::bail!("{base} is the version served here; choose another to compare against");
    }
    let loaded = other_version(app, base).await?;
    if let Some(found) = app.comparisons.lock().expect("comparison cache").get(base) {
        return Ok((loaded, found.clone()));
    }
    let (base_loaded, served) = (loaded.clone(), app.served.clone());
    let comparison =
        Arc::new(tokio::task::spawn_blocking(move || pages::compare(&base_loaded.catalog, &served.catalog)).await?);
    app.comparisons
        .lock()
        .expect("comparison cache")
        .insert(base.to_string(), comparison.clone());
    Ok((loaded, comparison))
}

async fn basket(State(app): State<Arc<App>>) -> Html<String> {
    Html(pages::basket_page(&app.served))
}

/// The exclusion file for `release amend --remove`: the basket's hashes (`hash=` parameters)
/// that this version holds, one per line; others are listed as comments.
async fn basket_file(State(app): State<Arc<App>>, RawQuery(query): RawQuery) -> Response {
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for pair in query.as_deref().unwrap_or("").split('&') {
        let Some(hash) = pair.strip_prefix("hash=") else {
            continue;
        };
        let hash = hash.to_ascii_lowercase();
        if hash.len() == 32
            && hash.bytes().all(|byte| byte.is_ascii_hexdigit())
            && app.served.catalog.ordinal_of(&hash).is_some()
        {
            if !known.contains(&hash) {
                known.push(hash);
            }
        } else {
            unknown.push(
                hash.chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(64)
                    .collect::<String>(),
            );
        }
    }
    let mut body = format!(
        "# takedown basket from release {} ({} conversations)\n# for: release amend {} --remove THIS_FILE --version NEW\n",
        app.served.version(),
        known.len(),
        app.served.version()
    );
    for hash in &unknown {
        body.push_str(&format!("# not in this version: {hash}\n"));
    }
    for hash in &known {
        body.push_str(hash);
        body.push('\n');
    }
    let disposition = format!(
        "attachment; filename=\"takedown-{}.txt\"",
        app.served
            .version()
            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '.', "_")
    );
    let mut response = ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response();
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

async fn chart(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    match app.served.chart(&name).await {
        Some(body) => ([(header::CONTENT_TYPE, "image/svg+xml")], body).into_response(),
        None => (StatusCode::NOT_FOUND, "no such chart").into_response(),
    }
}

async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLESHEET).into_response()
}

async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT).into_response()
}

async fn not_found(State(app): State<Arc<App>>) -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(pages::message_page(&app.served, "Not found", "There is no such page.")),
    )
        .into_response()
}
