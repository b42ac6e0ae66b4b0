//! The HTTP routes: `POST /predict`, `POST /match`, `GET /health`, `GET /model`, `GET /metrics`,
//! `POST /admin/reload` (loopback clients only), and JSON answers for unknown paths and wrong
//! methods.

use std::net::SocketAddr;
use std::sync::{Arc, mpsc};
use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::sync::oneshot;

use super::batcher::{BatchOptions, Job, MatchJob, Msg};
use super::body::{parse_body, parse_match_body};
use super::connections::{ConnectionOptions, Slots, is_admin_peer};
use super::limits::{LimitError, Limits};
use super::matcher::MatchAnswer;
use super::metrics::{self, Gauges, Metrics};
use super::queue::QueueBudget;
use super::reload::Models;
use super::response::{ApiError, json_response};
use super::stats::Stats;

/// What every handler shares.
pub(crate) struct AppState {
    pub models: Arc<Models>,
    pub limits: Limits,
    pub batching: BatchOptions,
    pub connections: ConnectionOptions,
    pub queue: Arc<QueueBudget>,
    pub slots: Arc<Slots>,
    pub stats: Arc<Stats>,
    pub metrics: Arc<Metrics>,
}

/// The header that names the model generation that answered a `/predict` request (1 at
/// start, +1 per reload).
pub const MODEL_GENERATION: &str = "x-model-generation";

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/predict", post(predict))
        .route("/match", post(match_record))
        .route("/health", get(health))
        .route("/model", get(model))
        .route("/metrics", get(metrics))
        .route("/admin/reload", post(reload))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn predict(State(state): State<Arc<AppState>>, request: Request) -> Response {
    counted(&state, predict_inner(&state, request)).await
}

/// Runs one model request (`/predict`, `/match`): counts it in flight, counts a failure by
/// status, and records its status and latency in the metrics.
async fn counted(
    state: &AppState,
    work: impl std::future::Future<Output = Result<Response, ApiError>>,
) -> Response {
    let started = Instant::now();
    let in_flight = state.stats.enter();
    let response = match work.await {
        Ok(response) => response,
        Err(e) => {
            state.stats.failed(e.status.as_u16());
            e.into_response()
        }
    };
    drop(in_flight);
    state
        .metrics
        .answered(response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

/// The body of a JSON request, within the size limit and the body timeout.
async fn read_body(state: &AppState, request: Request) -> Result<axum::body::Bytes, ApiError> {
    check_content_type(request.headers())?;
    let limits = &state.limits;
    if let Some(length) = content_length(request.headers()) {
        limits.check_body(length)?;
    }
    let body_timeout = state.connections.body_timeout;
    let read = axum::body::to_bytes(request.into_body(), limits.max_body_bytes);
    let bytes = tokio::time::timeout(body_timeout, read)
        .await
        .map_err(|_| ApiError::body_timeout(body_timeout))?
        .map_err(|e| {
            if is_length_limit(&e) {
                ApiError::from(LimitError::BodyBytes {
                    max: limits.max_body_bytes,
                    actual: None,
                })
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("could not read the request body: {e}"),
                )
            }
        })?;
    Ok(bytes)
}

async fn predict_inner(state: &AppState, request: Request) -> Result<Response, ApiError> {
    let limits = &state.limits;
    let bytes = read_body(state, request).await?;
    // A full queue refuses before the JSON is parsed: under overload the refusals must cost
    // as little CPU as possible, since they share the cores with the model.
    if state.queue.is_full() {
        return Err(ApiError::overloaded(state.queue.full()));
    }
    let parsed = parse_body(&bytes, limits)?;
    let n = parsed.pairs.len();
    // Room in the queue first: past the bound the answer is an immediate 503.
    let ticket = state.queue.try_reserve(n).map_err(ApiError::overloaded)?;
    let (sender, generation) = {
        let current = state.models.current();
        (current.sender.clone(), current.generation)
    };
    let predictions = if n == 0 {
        vec![]
    } else {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            pairs: parsed.pairs,
            reply,
            ticket: Some(ticket),
        };
        send_and_wait(state, sender, Msg::Job(job), answer).await?
    };
    state.stats.answered(n);
    let mut response = if parsed.single {
        json_response(StatusCode::OK, &predictions[0])
    } else {
        json_response(StatusCode::OK, &predictions)
    };
    response
        .headers_mut()
        .insert(MODEL_GENERATION, HeaderValue::from(generation));
    Ok(response)
}

async fn match_record(State(state): State<Arc<AppState>>, request: Request) -> Response {
    counted(&state, match_inner(&state, request)).await
}

/// `POST /match`: the record's best candidates in the index, through the same queue and
/// worker as `/predict` (one record's room in the queue), so overload protection applies.
async fn match_inner(state: &AppState, request: Request) -> Result<Response, ApiError> {
    let (sender, generation, index) = {
        let current = state.models.current();
        (
            current.sender.clone(),
            current.generation,
            current.info.index.clone(),
        )
    };
    let Some(index) = index else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "POST /match needs a record index: write one with `biome index --model MODEL \
             --data TABLE --id-column ID --output FILE` and start `biome serve --index FILE`",
        ));
    };
    let bytes = read_body(state, request).await?;
    if state.queue.is_full() {
        return Err(ApiError::overloaded(state.queue.full()));
    }
    let parsed = parse_match_body(&bytes, &state.limits)?;
    let ticket = state.queue.try_reserve(1).map_err(ApiError::overloaded)?;
    let (reply, answer) = oneshot::channel();
    let job = MatchJob {
        record: parsed.record,
        top_k: parsed.top_k,
        reply,
        ticket: Some(ticket),
    };
    let matches = send_and_wait(state, sender, Msg::Match(job), answer).await?;
    state.stats.answered(1);
    let mut response = json_response(
        StatusCode::OK,
        &MatchAnswer {
            matches: &matches,
            match_label: &index.match_label,
            threshold: index.threshold,
            index_records: index.records,
        },
    );
    response
        .headers_mut()
        .insert(MODEL_GENERATION, HeaderValue::from(generation));
    Ok(response)
}

/// Hands `message` to the model worker and waits for its `answer` within the request deadline.
/// The sender is taken by value and dropped once the message is sent: a worker retired by a
/// reload stops once the requests sent to it are answered.
async fn send_and_wait<T>(
    state: &AppState,
    sender: mpsc::Sender<Msg>,
    message: Msg,
    answer: oneshot::Receiver<Result<T, String>>,
) -> Result<T, ApiError> {
    sender.send(message).map_err(|_| shutting_down())?;
    drop(sender);
    let answer = match state.batching.request_timeout {
        // Past the deadline the answer is dropped; the worker skips a request nobody waits for.
        Some(deadline) => tokio::time::timeout(deadline, answer)
            .await
            .map_err(|_| ApiError::deadline(deadline))?,
        None => answer.await,
    };
    answer
        .map_err(|_| shutting_down())?
        .map_err(|message| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message))
}

fn shutting_down() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the server is shutting down",
    )
}

/// JSON or nothing said: `application/json`, `application/<x>+json`, with any parameters.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let text = value.to_str().unwrap_or("").to_ascii_lowercase();
    let essence = text.split(';').next().unwrap_or("").trim();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if json {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "content-type {:?} is not JSON: send application/json",
                String::from_utf8_lossy(value.as_bytes())
            ),
        ))
    }
}

fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether reading the body failed because it outgrew the limit.
fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// `{"status": "ok"}`, or `"overloaded"` while the queue is at its bound, with the counters,
/// the queue, the connections and the reloads. Always 200: the server is up either way.
async fn health(State(state): State<Arc<AppState>>) -> Response {
    let status = if state.queue.is_full() {
        "overloaded"
    } else {
        "ok"
    };
    let mut body = json!({
        "status": status,
        "queue_pairs": state.queue.depth(),
        "max_queue": state.queue.max(),
        "open_connections": state.slots.open(),
    });
    for part in [
        serde_json::to_value(state.stats.snapshot()),
        serde_json::to_value(state.models.status()),
    ] {
        if let (Some(map), Ok(serde_json::Value::Object(fields))) = (body.as_object_mut(), part) {
            map.extend(fields);
        }
    }
    json_response(StatusCode::OK, &body)
}

async fn model(State(state): State<Arc<AppState>>) -> Response {
    json_response(StatusCode::OK, &state.models.current().info)
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let text = state.metrics.render(Gauges {
        queue_pairs: state.queue.depth(),
        queue_max: state.queue.max(),
        in_flight: state.stats.in_flight(),
        connections: state.slots.open(),
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        text,
    )
        .into_response()
}

/// Reload the model folder (loopback clients only): 200 with the new generation once it
/// serves, or 500 with the load error while the old model goes on serving.
async fn reload(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>();
    if !is_admin_peer(peer) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "POST /admin/reload answers loopback clients only",
        )
        .into_response();
    }
    match state.models.reload().await {
        Ok(reloaded) => json_response(
            StatusCode::OK,
            &json!({
                "status": "reloaded",
                "model": reloaded.model,
                "generation": reloaded.generation,
            }),
        ),
        Err(e) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reload failed, the previous model is still serving: {e}"),
        )
        .into_response(),
    }
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no route {}: the routes are POST /predict, POST /match, GET /health, GET /model, GET /metrics, \
             POST /admin/reload",
            uri.path()
        ),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let allow = if ["/predict", "/match", "/admin/reload"].contains(&uri.path()) {
        "POST"
    } else {
        "GET, HEAD"
    };
    let mut response = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "method {method} is not allowed on {}: use {allow}",
            uri.path()
        ),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static(allow));
    response
}
