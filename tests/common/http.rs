//! Requests to a running server and their answers.

use std::time::Duration;

use serde_json::Value;

use super::fixtures::fixture;
use super::forms;
use super::server::Server;

/// An agent that answers every status as it is and follows no redirect.
pub fn agent() -> ureq::Agent {
    agent_within(None)
}

/// [`agent`] with a limit on each request's whole time.
pub fn agent_within(limit: Option<Duration>) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(limit)
        .build()
        .into()
}

/// An answer: its status, headers and body.
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    /// The body as JSON; panics (saying what came) when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as JSON, or `null` when it is not.
    pub fn json_or_null(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first header `name`, or "" when there is none.
    pub fn header_or_empty(&self, name: &str) -> &str {
        self.header(name).unwrap_or("")
    }

    /// The session cookie it sets (`hw_session=…`), or "".
    pub fn session_cookie(&self) -> &str {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .find(|c| c.starts_with("hw_session="))
            .unwrap_or("")
    }
}

/// A request body.
pub enum Body {
    Empty,
    Json(Value),
    /// Form fields and, if given, a photo (the part `photo`).
    Multipart(Vec<(&'static str, String)>, Option<Vec<u8>>),
    /// Bytes of this content type.
    Raw(&'static str, Vec<u8>),
}

impl Body {
    /// The `Content-Type` and bytes to send (none for [`Body::Empty`]).
    pub fn encode(self) -> Option<(String, Vec<u8>)> {
        match self {
            Body::Empty => None,
            Body::Json(v) => Some(("application/json".into(), v.to_string().into_bytes())),
            Body::Multipart(fields, photo) => Some(forms::with_photo(&fields, photo.as_deref())),
            Body::Raw(ct, bytes) => Some((ct.into(), bytes)),
        }
    }
}

/// One request to `base` (`http://host:port`): these headers, and the body
/// with its `Content-Type` if any. An error when no answer came.
pub fn try_send(
    agent: &ureq::Agent,
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<(String, Vec<u8>)>,
) -> Result<Resp, ureq::Error> {
    let mut b = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"));
    for (k, v) in headers {
        b = b.header(*k, v);
    }
    let bytes = match body {
        Some((ct, bytes)) => {
            b = b.header("Content-Type", ct);
            bytes
        }
        None => Vec::new(),
    };
    let mut res = agent.run(b.body(bytes).map_err(ureq::Error::from)?)?;
    let status = res.status().as_u16();
    let headers = res
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = res
        .body_mut()
        .with_config()
        .limit(20_000_000)
        .read_to_vec()?;
    Ok(Resp {
        status,
        headers,
        body,
    })
}

impl Server {
    /// One request to this server with its agent; panics when no answer
    /// came.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Option<(String, Vec<u8>)>,
    ) -> Resp {
        try_send(&self.agent, &self.base, method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }
}

impl Server {
    /// A request with a bearer token, in the language `lang`
    /// (`Accept-Language`), and a body with its `Content-Type` if any.
    pub fn send_as(
        &self,
        method: &str,
        path: &str,
        token: &str,
        lang: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Resp {
        let headers = [
            ("Authorization", format!("Bearer {token}")),
            ("Accept-Language", lang.to_string()),
        ];
        self.send(
            method,
            path,
            &headers,
            body.map(|(ct, bytes)| (ct.to_string(), bytes)),
        )
    }

    /// A page form sent with a bearer token (which needs no CSRF token, but
    /// the field is there): `fields` as they are, then `csrf=x`.
    pub fn post_form_as(&self, path: &str, token: &str, fields: &[(&str, &str)]) -> Resp {
        let mut all = fields.to_vec();
        all.push(("csrf", "x"));
        let body = forms::urlencoded(&all);
        self.send_as(
            "POST",
            path,
            token,
            "en",
            Some(("application/x-www-form-urlencoded", body.into_bytes())),
        )
    }

    /// A multipart POST with a bearer token of `fields` and the fixture
    /// `photo`, which must be created (201); its JSON answer.
    pub fn post_photo(
        &self,
        path: &str,
        token: &str,
        fields: &[(&str, &str)],
        photo: &str,
    ) -> Value {
        let (ct, body) = forms::with_photo(fields, Some(&fixture(photo)));
        let r = self.send_as("POST", path, token, "en", Some((&ct, body)));
        assert!(r.status == 201, "{path}: {} {}", r.status, r.text());
        r.json()
    }
}
