//! Error responses of `biome serve`: always JSON, `{"error": "..."}` plus what helps a client
//! fix the request (the limit's name and value, the pair's index, the field).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use super::body::BodyError;
use super::limits::LimitError;

/// An HTTP error with a JSON body.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// The body: an object with at least `error`.
    pub body: Value,
}

impl ApiError {
    /// `{"error": message}` with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({ "error": message.into() }),
        }
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
        let mut err = ApiError::new(StatusCode::BAD_REQUEST, e.to_string());
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
        json_response(self.status, &self.body)
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
