//! Accounts on a running server: how a request authenticates, sign-in
//! sessions, users and API tokens.

use serde_json::{json, Value};

use super::fixtures::{ADMIN_PASSWORD, PASSWORD};
use super::http::{Body, Resp};
use super::server::Server;

/// How a request authenticates.
#[derive(Clone, Debug)]
pub enum Auth {
    None,
    Bearer(String),
    /// The session's secret (the `hw_session` cookie's value) and, if
    /// given, the CSRF header.
    Cookie(String, Option<String>),
}

impl Auth {
    /// The headers that carry it.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Auth::None => Vec::new(),
            Auth::Bearer(t) => vec![("Authorization", format!("Bearer {t}"))],
            Auth::Cookie(secret, csrf) => {
                let mut h = vec![("Cookie", format!("hw_session={secret}"))];
                if let Some(x) = csrf {
                    h.push(("X-CSRF-Token", x.clone()));
                }
                h
            }
        }
    }
}

/// A signed-in session.
pub struct Session {
    /// `hw_session=SECRET`, as a `Cookie` header sends it.
    pub cookie: String,
    pub csrf: String,
    /// What `POST /api/session` answered (the user's id, name, role…).
    pub me: Value,
}

impl Session {
    /// The cookie's value.
    pub fn secret(&self) -> &str {
        self.cookie.split_once('=').map_or("", |(_, v)| v)
    }

    /// The session with its CSRF header.
    pub fn auth(&self) -> Auth {
        Auth::Cookie(self.secret().to_string(), Some(self.csrf.clone()))
    }
}

impl Server {
    /// One request with `auth` and a body.
    pub fn req(&self, method: &str, path: &str, auth: &Auth, body: Body) -> Resp {
        self.send(method, path, &auth.headers(), body.encode())
    }

    /// Signs in (`POST /api/session`), which must succeed.
    pub fn session(&self, user: &str, password: &str) -> Session {
        let r = self.req(
            "POST",
            "/api/session",
            &Auth::None,
            Body::Json(json!({ "username": user, "password": password })),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let cookie = r.session_cookie();
        assert!(!cookie.is_empty(), "no session cookie");
        let cookie = cookie.split(';').next().unwrap().to_string();
        let me = r.json();
        let csrf = me["csrf_token"].as_str().expect("csrf_token").to_string();
        Session { cookie, csrf, me }
    }

    /// Makes a user of `role` with [`PASSWORD`]; its id.
    pub fn add_user(&self, auth: &Auth, name: &str, role: &str) -> u64 {
        let r = self.req(
            "POST",
            "/api/users",
            auth,
            Body::Json(json!({ "username": name, "password": PASSWORD, "role": role })),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()["id"].as_u64().expect("user id")
    }

    /// Makes an API token named `name` for the user `user_id`.
    pub fn add_token(&self, auth: &Auth, user_id: u64, name: &str) -> String {
        let r = self.req(
            "POST",
            "/api/tokens",
            auth,
            Body::Json(json!({ "user_id": user_id, "name": name })),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()["token"].as_str().expect("token").to_string()
    }

    /// Makes a user of `role` and an API token for it named "tests".
    pub fn add_user_with_token(&self, auth: &Auth, name: &str, role: &str) -> String {
        let id = self.add_user(auth, name, role);
        self.add_token(auth, id, "tests")
    }
}

impl Server {
    /// Signs in as the first admin and makes it an API token named "tests".
    pub fn first_admin_token(&self) -> String {
        let session = self.session("admin", ADMIN_PASSWORD);
        let id = session.me["id"].as_u64().expect("the admin's id");
        self.add_token(&session.auth(), id, "tests")
    }
}
