//! The HTTP routes: `POST /predict`, `GET /health`, `GET /model`, and JSON answers for
//! unknown paths and wrong methods.

use std::sync::Arc;
use std::sync::mpsc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::sync::oneshot;

use super::batcher::{Job, ModelInfo, Msg};
use super::body::parse_body;
use super::limits::{LimitError, Limits};
use super::response::{ApiError, json_response};
use super::stats::Stats;

/// What every handler shares.
pub(crate) struct AppState {
    pub worker: mpsc::Sender<Msg>,
    pub info: ModelInfo,
    pub limits: Limits,
    pub stats: Arc<Stats>,
}

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/predict", post(predict))
        .route("/health", get(health))
        .route("/model", get(model))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn predict(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let _in_flight = state.stats.enter();
    match predict_inner(&state, request).await {
        Ok(response) => response,
        Err(e) => {
            state.stats.failed(e.status.as_u16());
            e.into_response()
        }
    }
}

async fn predict_inner(state: &AppState, request: Request) -> Result<Response, ApiError> {
    check_content_type(request.headers())?;
    let limits = &state.limits;
    if let Some(length) = content_length(request.headers()) {
        limits.check_body(length)?;
    }
    let bytes = axum::body::to_bytes(request.into_body(), limits.max_body_bytes)
        .await
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
    let parsed = parse_body(&bytes, limits)?;
    let n = parsed.pairs.len();
    let predictions = if n == 0 {
        vec![]
    } else {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            pairs: parsed.pairs,
            reply,
        };
        state
            .worker
            .send(Msg::Job(job))
            .map_err(|_| shutting_down())?;
        answer
            .await
            .map_err(|_| shutting_down())?
            .map_err(|message| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message))?
    };
    state.stats.answered(n);
    Ok(if parsed.single {
        json_response(StatusCode::OK, &predictions[0])
    } else {
        json_response(StatusCode::OK, &predictions)
    })
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

async fn health(State(state): State<Arc<AppState>>) -> Response {
    let mut body = json!({ "status": "ok" });
    if let (Some(map), Ok(serde_json::Value::Object(stats))) = (
        body.as_object_mut(),
        serde_json::to_value(state.stats.snapshot()),
    ) {
        map.extend(stats);
    }
    json_response(StatusCode::OK, &body)
}

async fn model(State(state): State<Arc<AppState>>) -> Response {
    json_response(StatusCode::OK, &state.info)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no route {}: the routes are POST /predict, GET /health, GET /model",
            uri.path()
        ),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let allow = if uri.path() == "/predict" {
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
