//! Error responses of `biome serve`: always JSON, `{"error": "..."}` plus what helps a client
//! fix the request (the limit's name and value, the pair's index, the field).

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use super::body::BodyError;
use super::limits::LimitError;
use super::queue::QueueFull;

/// An HTTP error with a JSON body.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// The body: an object with at least `error`.
    pub body: Value,
    /// Headers beyond the content type (`Retry-After`, `Connection: close`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    /// `{"error": message}` with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({ "error": message.into() }),
            headers: Vec::new(),
        }
    }

    /// 503: the queue has no room for the request (`--max-queue`).
    pub fn overloaded(e: QueueFull) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            .with("limit", "max_queue")
            .with("max", e.max)
            .with("queued", e.queued)
            .retry_after(1)
    }

    /// 503: the request waited past its deadline (`--request-timeout-ms`).
    pub fn deadline(timeout: Duration) -> Self {
        let ms = timeout.as_millis() as u64;
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the server is overloaded: no answer within request_timeout_ms = {ms}; retry later"
            ),
        )
        .with("limit", "request_timeout_ms")
        .with("max", ms)
        .retry_after(1)
    }

    /// 408: the body did not arrive within `--body-timeout-ms`; the connection is closed.
    pub fn body_timeout(timeout: Duration) -> Self {
        let ms = timeout.as_millis() as u64;
        let mut e = ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("the request body did not arrive within body_timeout_ms = {ms}"),
        )
        .with("limit", "body_timeout_ms")
        .with("max", ms);
        e.headers
            .push((header::CONNECTION, HeaderValue::from_static("close")));
        e
    }

    fn retry_after(mut self, seconds: u32) -> Self {
        self.headers.push((header::RETRY_AFTER, seconds.into()));
        self
    }

    fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let Value::Object(map) = &mut self.body {
            map.insert(key.into(), value.into());
        }
        self
    }
}

impl From<LimitError> for ApiError {
    fn from(e: LimitError) -> Self {
        // The body and the pair count make the payload too large; a record's text is a
        // problem of its content.
        let status = match e {
            LimitError::BodyBytes { .. } | LimitError::Pairs { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            LimitError::TextChars { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let mut err = ApiError::new(status, e.to_string())
            .with("limit", e.name())
            .with("max", e.max());
        if let Some(actual) = e.actual() {
            err = err.with("actual", actual);
        }
        if let LimitError::TextChars { index, field, .. } = e {
            err = err.with("field", field);
            if let Some(i) = index {
                err = err.with("index", i);
            }
        }
        err
    }
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        if let BodyError::Limit(limit) = e {
            return limit.into();
        }
        // A well-formed top_k out of range is a problem of its value, like a text too long.
        let status = match e {
            BodyError::TopK { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::BAD_REQUEST,
        };
        let mut err = ApiError::new(status, e.to_string());
        if let Some(i) = e.index() {
            err = err.with("index", i);
        }
        if let Some(f) = e.field() {
            err = err.with("field", f);
        }
        err
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = json_response(self.status, &self.body);
        let headers = response.headers_mut();
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

/// `value` as an `application/json` response (axum's `Json` would need a serde_json feature
/// that rebuilds burn).
pub fn json_response<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "application/json")],
            json!({ "error": format!("cannot serialize the answer: {e}") }).to_string(),
        )
            .into_response(),
    }
}
