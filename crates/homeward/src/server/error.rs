//! The one error type of the server: an HTTP status, a stable code and a
//! message that says what to do, always sent as JSON on the API.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use homeward_core::intake::DecodeError;
use homeward_core::store::StoreError;
use serde::Serialize;

/// A failed request. The message never carries image bytes or personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `too_large`.
    pub code: &'static str,
    /// What went wrong and what to do.
    pub message: String,
    /// Seconds to send as `Retry-After` (429 and 503), the same wait the
    /// message states.
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    status: u16,
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    /// Sets the `Retry-After` seconds.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "sign in (POST /api/session) or send an API token as `Authorization: Bearer <token>`",
        )
    }
    pub fn forbidden(needed: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this needs the {needed} role; ask an administrator if you should have it"),
        )
    }
    pub fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "missing or wrong CSRF token; reload the page, or send the token from POST /api/session as X-CSRF-Token",
        )
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", message)
    }
    pub fn unsupported_media(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let secs = retry_after_secs.max(1);
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests; wait {secs} s and try again"),
        )
        .with_retry_after(secs)
    }
    /// 503: the analysis queue is full.
    pub fn busy(retry_after_secs: u64) -> Self {
        let secs = retry_after_secs.max(1);
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            format!("the server is busy analysing other photos; try again in {secs} s"),
        )
        .with_retry_after(secs)
    }
    pub fn internal(context: &str) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!(
                "internal error while {context}; the operator can find details in the server log"
            ),
        )
    }

    /// The JSON body `{"error":{"status","code","message"}}`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&Body {
            error: Inner {
                status: self.status.as_u16(),
                code: self.code,
                message: &self.message,
            },
        })
        .unwrap_or_else(|_| String::from("{\"error\":{\"code\":\"internal\"}}"))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (
            self.status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            self.to_json(),
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs),
            );
        }
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what, .. } => ApiError::not_found(what),
            StoreError::Invalid { field, why } => {
                ApiError::unprocessable(format!("invalid {field}: {why}"))
            }
            other => {
                eprintln!("homeward serve: store error: {other}");
                ApiError::internal("using the registry")
            }
        }
    }
}

impl From<DecodeError> for ApiError {
    fn from(e: DecodeError) -> Self {
        let message = e.to_string();
        match e {
            DecodeError::TooLarge { .. }
            | DecodeError::TooManyPixels { .. }
            | DecodeError::DecoderLimit { .. }
            | DecodeError::OverBudget { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
            }
            DecodeError::UnsupportedFormat { .. } => ApiError::unsupported_media(message),
            DecodeError::Empty { .. } => ApiError::bad_request(message),
            _ => ApiError::unprocessable(message),
        }
    }
}

impl From<homeward_match::MatchError> for ApiError {
    fn from(e: homeward_match::MatchError) -> Self {
        use homeward_match::MatchError;
        match e {
            MatchError::Store(e) => e.into(),
            MatchError::Decode(e) => e.into(),
            MatchError::Input(e) => e.into(),
            other => {
                eprintln!("homeward serve: matching: {other}");
                ApiError::internal("matching the photo")
            }
        }
    }
}

impl From<homeward_match::input::InputError> for ApiError {
    fn from(e: homeward_match::input::InputError) -> Self {
        ApiError::unprocessable(e.to_string())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        eprintln!("homeward serve: worker task failed: {e}");
        ApiError::internal("running a worker task")
    }
}
