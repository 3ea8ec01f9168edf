//! Who is calling: a session cookie or a bearer API token, resolved to an
//! account with a role; CSRF checks for cookie sessions; cookies.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use axum::response::{IntoResponse, Redirect, Response};

use super::auth::{constant_time_eq, Role, User};
use super::error::ApiError;
use super::{blocking, pages, AppState};

/// Header carrying the CSRF token on cookie-authenticated API writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How the caller proved who they are.
#[derive(Debug, Clone)]
pub enum Via {
    /// A browser session; writes need its CSRF token.
    Session { secret: String, csrf: String },
    /// A bearer API token (not sent by browsers on their own: no CSRF).
    Token,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub via: Via,
}

impl Caller {
    /// The name written to the audit logs.
    pub fn actor(&self) -> String {
        format!("web:{}", self.user.username)
    }

    /// Refuses callers below `role` (403).
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.user.role >= role {
            Ok(())
        } else {
            Err(ApiError::forbidden(role.as_str()))
        }
    }

    /// The session's CSRF token, for forms ("" for token callers).
    pub fn csrf(&self) -> &str {
        match &self.via {
            Via::Session { csrf, .. } => csrf,
            Via::Token => "",
        }
    }

    /// Checks a CSRF token from a form field or header (token callers pass).
    pub fn check_csrf(&self, given: Option<&str>) -> Result<(), ApiError> {
        match &self.via {
            Via::Token => Ok(()),
            Via::Session { csrf, .. } => match given {
                Some(g) if constant_time_eq(g, csrf) => Ok(()),
                _ => Err(ApiError::csrf()),
            },
        }
    }
}

/// The value of cookie `name`, if sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, Path=/, Secure unless configured off.
pub fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

fn is_write(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let auth = state.auth.clone();
        let caller = if let Some(token) = bearer(&parts.headers) {
            let token = token.to_string();
            let user = blocking(move || auth.token_user(&token))?;
            Caller {
                user: user.ok_or_else(ApiError::unauthenticated)?,
                via: Via::Token,
            }
        } else if let Some(secret) = cookie(&parts.headers, state.session_cookie()) {
            let secret = secret.to_string();
            let s = secret.clone();
            let found = blocking(move || auth.session(&s))?;
            let (user, csrf) = found.ok_or_else(ApiError::unauthenticated)?;
            Caller {
                user,
                via: Via::Session { secret, csrf },
            }
        } else {
            return Err(ApiError::unauthenticated());
        };
        state
            .rate
            .check(&format!("user:{}", caller.user.id))
            .map_err(ApiError::rate_limited)?;
        if parts.uri.path().starts_with("/api/") && is_write(&parts.method) {
            let given = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            caller.check_csrf(given)?;
        }
        Ok(caller)
    }
}

/// A caller of a page: sent to the sign-in page when not signed in, shown
/// an HTML error page otherwise.
#[derive(Debug, Clone)]
pub struct PageCaller(pub Caller);

/// Why a page could not be shown.
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if self.0.status == axum::http::StatusCode::UNAUTHORIZED {
            return Redirect::to("/login").into_response();
        }
        pages::error_page(&self.0)
    }
}

impl FromRequestParts<AppState> for PageCaller {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        Caller::from_request_parts(parts, state)
            .await
            .map(PageCaller)
            .map_err(PageError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_bearer_are_parsed() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; hw_session=abc; b=2".parse().unwrap());
        h.insert(header::AUTHORIZATION, "Bearer hwt_xyz".parse().unwrap());
        assert_eq!(cookie(&h, "hw_session"), Some("abc"));
        assert_eq!(cookie(&h, "missing"), None);
        assert_eq!(bearer(&h), Some("hwt_xyz"));
        let c = set_cookie("hw_session", "abc", 60, true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.ends_with("Secure"));
        assert!(!set_cookie("hw_session", "abc", 60, false).contains("Secure"));
    }
}
