//! Server-rendered pages (maud): sign-in, the mobile submission page and its
//! receipt, the review queue (filters, assignment, the "new" marker), the
//! review item, the case list, the audit page and registry administration;
//! a case's own pages are in `case_pages.rs`, which shares the helpers
//! here. Plain forms with a CSRF field; a little script from
//! `/static/app.js`, no inline script or style, no third-party assets (map
//! links on a case's timeline lead off-site on purpose).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use homeward_core::intake::{self, DecodeError};
use homeward_core::store::{CaseStatus, MatchState};
use homeward_match::review::Assignee;
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;

use super::api::{self, CaseIn, TokenIn, UserIn};
use super::auth::{random_hex, Role};
use super::error::ApiError;
use super::i18n::{self, Arg, Lang};
use super::service::{CandidatePhoto, FaceBox, ReviewView, SightingView};
use super::session::{cookie, set_cookie, Caller, PageCaller, PageError, Via};
use super::{blocking, AppState, Routes};

/// A form body for a page: a missing field (a form sent without its CSRF
/// token, say) or a malformed body gets an HTML error page, not JSON.
pub(super) struct PageForm<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send> axum::extract::FromRequest<AppState> for PageForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        match Form::<T>::from_request(req, state).await {
            Ok(Form(v)) => Ok(PageForm(v)),
            Err(e) => {
                let status = e.status();
                let code = match status {
                    StatusCode::PAYLOAD_TOO_LARGE => "too_large",
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
                    _ => "bad_form",
                };
                Err(PageError(ApiError::new(
                    status,
                    code,
                    "the form was incomplete or malformed; reload the page and send it again",
                )))
            }
        }
    }
}

const APP_JS: &str = include_str!("static/app.js");
const APP_CSS: &str = include_str!("static/app.css");

pub(super) fn routes(r: Routes) -> Routes {
    r.get("/", home)
        .get("/login", login_page)
        .add(
            "post",
            "/login",
            axum::routing::post(login_submit)
                .layer(axum::extract::DefaultBodyLimit::max(api::LOGIN_BODY_BYTES)),
        )
        .post("/logout", logout)
        .get("/submit", submit_page)
        .post("/submit", submit_post)
        .get("/review", review_page)
        .get("/review/{id}", review_item_page)
        .post("/review/{id}", review_decide)
        .post("/review/{id}/assign", review_assign)
        .post("/cases/{id}/status", case_status_post)
        .get("/audit", audit_page)
        .get("/cases", cases_page)
        .post("/cases", cases_create)
        .get("/admin", admin_page)
        .post("/admin/users", admin_create_user)
        .post("/admin/users/{id}/disabled", admin_set_disabled)
        .post("/admin/tokens", admin_create_token)
        .post("/admin/tokens/{id}/revoke", admin_revoke_token)
        .post("/admin/cases/{id}/erase", admin_erase)
        .get("/static/app.js", app_js)
        .get("/static/app.css", app_css)
        .get("/favicon.ico", icon)
        .get("/lang/{tag}", i18n::switch)
}

async fn app_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        APP_JS,
    )
        .into_response()
}

/// A plain mark, so that browsers find an icon instead of a 404.
const ICON_SVG: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\"><rect width=\"16\" height=\"16\" rx=\"3\" fill=\"#1d3557\"/><path d=\"M3 9l5-5 5 5v4H3z\" fill=\"#fff\"/></svg>";

async fn icon() -> Response {
    ([(header::CONTENT_TYPE, "image/svg+xml")], ICON_SVG).into_response()
}

async fn app_css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], APP_CSS).into_response()
}

/// The message `id` in `l`.
pub(super) fn t(l: Lang, id: &str) -> String {
    i18n::tr(l, id)
}

/// The message `id` in `l`, with arguments.
pub(super) fn ta(l: Lang, id: &str, args: &[(&str, Arg<'_>)]) -> String {
    i18n::tr_args(l, id, args)
}

/// A stored word (band, state, status, sex, role) in `l`: the message
/// `{prefix}-{word}`, or the word itself when there is none.
pub(super) fn word(l: Lang, prefix: &str, w: &str) -> String {
    let id = format!("{prefix}-{w}");
    let out = t(l, &id);
    if out == id {
        w.to_string()
    } else {
        out
    }
}

pub(super) fn page(l: Lang, title: &str, caller: Option<&Caller>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(l.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · " (t(l, "brand")) }
                link rel="stylesheet" href="/static/app.css";
                script src="/static/app.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { (t(l, "brand")) }
                    @if let Some(c) = caller {
                        nav {
                            @if c.user.role >= Role::Volunteer { a href="/submit" { (t(l, "nav-submit")) } }
                            @if c.user.role >= Role::CaseWorker {
                                a href="/review" { (t(l, "nav-review")) }
                                a href="/cases" { (t(l, "nav-cases")) }
                                a href="/batches" { (t(l, "nav-batches")) }
                                a href="/audit" { (t(l, "nav-audit")) }
                            }
                            @if c.user.role >= Role::Admin { a href="/admin" { (t(l, "nav-admin")) } }
                        }
                        form.inline method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(c.csrf());
                            span.who { (c.user.username) " (" (word(l, "role", c.user.role.as_str())) ")" }
                            button.link type="submit" { (t(l, "sign-out")) }
                        }
                    }
                    nav.lang #lang-switch aria-label=(t(l, "lang-switch")) {
                        @for other in Lang::ALL {
                            @if other == l {
                                span lang=(other.tag()) aria-current="true" { (other.own_name()) }
                            } @else {
                                a lang=(other.tag()) hreflang=(other.tag()) href=(i18n::switch_href(other)) { (other.own_name()) }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

pub(super) fn render(status: StatusCode, m: Markup) -> Response {
    (status, Html(m.into_string())).into_response()
}

/// An error said in `l`: English keeps the error's own, specific message;
/// Chinese says what the error's code means (the English detail stays
/// available under "details" for whoever helps the volunteer).
fn error_text(l: Lang, e: &ApiError) -> String {
    match l {
        Lang::En => e.message.clone(),
        Lang::ZhCn => {
            let id = format!("err-{}", e.code);
            let secs = e.retry_after.unwrap_or(1);
            let out = ta(l, &id, &[("secs", secs.into())]);
            if out == id {
                t(l, "err-other")
            } else {
                out
            }
        }
    }
}

/// An HTML error page with the error's status, in the request's language.
pub(super) fn error_page(e: &ApiError) -> Response {
    let l = i18n::current_lang();
    let mut res = render(
        e.status,
        page(
            l,
            &t(l, "error-title"),
            None,
            html! {
                h1 { (t(l, "error-heading")) }
                p.error { (error_text(l, e)) }
                @if l != Lang::En {
                    details.hint { summary { (t(l, "error-details")) } p lang="en" { (e.message) } }
                }
                p { a href="/" { (t(l, "error-back")) } }
            },
        ),
    );
    if let Some(secs) = e.retry_after {
        res.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(secs),
        );
    }
    res
}

pub(super) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

pub(super) fn fmt_time(l: Lang, t: i64) -> String {
    i18n::fmt_time(l, t)
}

pub(super) fn age_label(l: Lang, months: Option<u32>) -> String {
    match months {
        Some(m) => ta(
            l,
            "case-age-label",
            &[("years", (m / 12).into()), ("months", (m % 12).into())],
        ),
        None => t(l, "case-age-unknown"),
    }
}

// ---------- sign-in ----------

async fn home(caller: Result<Caller, ApiError>) -> Response {
    match caller {
        Ok(c) if c.user.role >= Role::CaseWorker => see_other("/review"),
        Ok(_) => see_other("/submit"),
        Err(_) => see_other("/login"),
    }
}

fn login_form(l: Lang, token: &str, message: Option<&str>) -> Markup {
    page(
        l,
        &t(l, "login-title"),
        None,
        html! {
            h1 { (t(l, "login-title")) }
            @if let Some(m) = message { p.error role="alert" { (m) } }
            form.stack method="post" action="/login" {
                input type="hidden" name="csrf" value=(token);
                label { (t(l, "login-username")) input name="username" autocomplete="username" required; }
                label { (t(l, "login-password")) input type="password" name="password" autocomplete="current-password" required; }
                button type="submit" { (t(l, "login-submit")) }
            }
        },
    )
}

async fn login_page(State(st): State<AppState>, l: Lang) -> Result<Response, PageError> {
    let token = random_hex(16).map_err(ApiError::from)?;
    let c = set_cookie(st.login_cookie(), &token, 3600, st.config.secure_cookies);
    let mut res = render(StatusCode::OK, login_form(l, &token, None));
    res.headers_mut().append(
        header::SET_COOKIE,
        c.parse()
            .map_err(|_| ApiError::internal("setting a cookie"))?,
    );
    Ok(res)
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    csrf: String,
}

async fn login_submit(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    l: Lang,
    headers: HeaderMap,
    PageForm(f): PageForm<LoginForm>,
) -> Result<Response, PageError> {
    // Double-submit: the form's token must equal the cookie set with the form.
    let expected = cookie(&headers, st.login_cookie()).unwrap_or("");
    if expected.is_empty() || !super::auth::constant_time_eq(expected, &f.csrf) {
        return Err(ApiError::csrf().into());
    }
    let ip = st.client_ip(peer, &headers);
    match api::sign_in(&st, ip, &f.username, &f.password) {
        Ok((_, secret, _)) => {
            let mut res = see_other("/");
            let c = api::session_cookie_header(&st, &secret);
            res.headers_mut().append(
                header::SET_COOKIE,
                c.parse()
                    .map_err(|_| ApiError::internal("setting a cookie"))?,
            );
            Ok(res)
        }
        Err(e)
            if e.status == StatusCode::UNAUTHORIZED
                || e.status == StatusCode::TOO_MANY_REQUESTS
                || e.status == StatusCode::UNPROCESSABLE_ENTITY =>
        {
            let mut res = render(e.status, login_form(l, &f.csrf, Some(&error_text(l, &e))));
            if let Some(secs) = e.retry_after {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
            }
            Ok(res)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(st): State<AppState>,
    PageCaller(c): PageCaller,
    PageForm(f): PageForm<CsrfForm>,
) -> Result<Response, PageError> {
    c.check_csrf(Some(&f.csrf))?;
    if let Via::Session { secret, .. } = &c.via {
        blocking(|| st.auth.end_session(secret))?;
    }
    let mut res = see_other("/login");
    let clear = set_cookie(st.session_cookie(), "", 0, st.config.secure_cookies);
    res.headers_mut().append(
        header::SET_COOKIE,
        clear
            .parse()
            .map_err(|_| ApiError::internal("setting a cookie"))?,
    );
    Ok(res)
}

// ---------- volunteers ----------

/// What the volunteer had typed, to show again with an error: only the
/// photo has to be chosen again (browsers never refill a file input).
#[derive(Default)]
struct Prefill {
    seen_at: Option<String>,
    place: String,
    note: String,
    apparent_age: String,
    sex: String,
    share_location: bool,
}

impl Prefill {
    fn from_upload(up: &api::Upload) -> Prefill {
        let get = |k: &str| up.text(k).unwrap_or("").to_string();
        Prefill {
            seen_at: up.text("seen_at").map(str::to_string),
            place: get("place"),
            note: get("note"),
            apparent_age: get("apparent_age"),
            sex: get("sex"),
            share_location: matches!(up.text("share_location"), Some("on" | "yes" | "true" | "1")),
        }
    }
}

const AGE_RANGES: [&str; 5] = ["0-3", "4-7", "8-11", "12-14", "15-17"];

fn submit_form(l: Lang, c: &Caller, error: Option<&str>, pre: &Prefill) -> Markup {
    let now = i18n::now_local_input();
    let zone = &i18n::zone().0;
    // The script's words, in the page's language (no inline script).
    let placeholder = |id: &str, k: &str| ta(l, id, &[(k, format!("{{{k}}}").as_str().into())]);
    page(
        l,
        &t(l, "submit-title"),
        Some(c),
        html! {
            h1 { (t(l, "submit-title")) }
            p.hint { (t(l, "submit-safety")) }
            @if let Some(m) = error { p.error #form-error role="alert" { (m) } }
            form.stack #submit-form method="post" action="/submit" enctype="multipart/form-data"
                data-zone=(zone)
                data-msg-locating=(t(l, "js-locating"))
                data-msg-located=(placeholder("js-located", "metres"))
                data-msg-no-location=(t(l, "js-no-location"))
                data-msg-sending=(t(l, "js-sending"))
                data-msg-preparing=(t(l, "js-preparing"))
                data-msg-exif-time=(t(l, "js-exif-time"))
                data-msg-photo-ready=(ta(l, "js-photo-ready", &[("width", "{width}".into()), ("height", "{height}".into())])) {
                input type="hidden" name="csrf" value=(c.csrf());
                fieldset.photo {
                    legend { (t(l, "submit-photo")) }
                    @if error.is_some() { p.hint { (t(l, "submit-photo-again")) } }
                    div.photo-pick {
                        label.button.pick for="photo-camera" { (t(l, "submit-take-photo")) }
                        input #photo-camera.file type="file" name="photo" accept="image/*" capture="environment";
                        label.button.pick for="photo" { (t(l, "submit-pick-photo")) }
                        input #photo.file type="file" name="photo" accept="image/*";
                    }
                    p.hint #photo-status { (t(l, "submit-photo-hint")) }
                    img #preview.preview hidden alt=(t(l, "submit-preview-alt"));
                }
                label { (t(l, "submit-seen-at"))
                    input #seen-at type="datetime-local" name="seen_at" step="60" max=(now)
                        value=(pre.seen_at.as_deref().unwrap_or(&now)) required;
                }
                p.hint #seen-at-hint { (ta(l, "submit-seen-at-hint", &[("zone", zone.into())])) }
                fieldset {
                    legend { (t(l, "submit-where")) }
                    label { (t(l, "submit-place")) input name="place" maxlength="200" value=(pre.place); }
                    label.check {
                        input #share-location type="checkbox" name="share_location" value="on" checked[pre.share_location];
                        span { (t(l, "submit-share-location")) }
                    }
                    p.hint { (t(l, "submit-share-location-hint")) }
                    span #locate-status.hint role="status" {}
                    input #lat type="hidden" name="lat";
                    input #lon type="hidden" name="lon";
                }
                label { (t(l, "submit-age"))
                    select name="apparent_age" {
                        option value="" { (t(l, "submit-not-sure")) }
                        @for r in AGE_RANGES {
                            option value=(r) selected[pre.apparent_age == r] { (r) }
                        }
                    }
                }
                label { (t(l, "submit-sex"))
                    select name="sex" {
                        option value="" { (t(l, "submit-not-sure")) }
                        option value="female" selected[pre.sex == "female"] { (t(l, "submit-girl")) }
                        option value="male" selected[pre.sex == "male"] { (t(l, "submit-boy")) }
                    }
                }
                label { (t(l, "submit-note"))
                    textarea name="note" maxlength="1000" rows="3" { (pre.note) }
                }
                section.privacy #privacy {
                    h2 { (t(l, "privacy-title")) }
                    p { (t(l, "privacy-text")) }
                }
                button #send type="submit" { (t(l, "submit-send")) }
            }
        },
    )
}

async fn submit_page(PageCaller(c): PageCaller, l: Lang) -> Result<Response, PageError> {
    c.require(Role::Volunteer)?;
    Ok(render(
        StatusCode::OK,
        submit_form(l, &c, None, &Prefill::default()),
    ))
}

/// A form field's problem, said in `l`.
fn field_error_text(l: Lang, e: &api::FieldError) -> String {
    use api::FieldError as F;
    match e {
        F::NotNumber { .. } | F::Location => t(l, "ferr-location"),
        F::ApparentAge(_) => t(l, "ferr-age"),
        F::Sex(_) => t(l, "ferr-sex"),
        F::TooLong { field, max } => {
            let name = match *field {
                "place" => t(l, "field-place"),
                "note" => t(l, "field-note"),
                "seen_at" => t(l, "submit-seen-at"),
                other => other.to_string(),
            };
            ta(
                l,
                "ferr-too-long",
                &[("field", name.as_str().into()), ("max", (*max).into())],
            )
        }
        F::SeenAt(i18n::SeenAtError::Future) => t(l, "ferr-seen-at-future"),
        F::SeenAt(i18n::SeenAtError::Malformed { .. }) => t(l, "ferr-seen-at"),
    }
}

/// Why a photo cannot be used, said in `l`.
fn photo_error_text(l: Lang, e: &DecodeError) -> String {
    let id = match e {
        DecodeError::TooSmall { .. } | DecodeError::ZeroSize { .. } => "ferr-photo-small",
        DecodeError::AspectRatio { .. } => "ferr-photo-shape",
        DecodeError::TooLarge { .. }
        | DecodeError::TooManyPixels { .. }
        | DecodeError::OverBudget { .. }
        | DecodeError::DecoderLimit { .. } => "ferr-photo-large",
        DecodeError::UnsupportedFormat { .. } => "ferr-photo-format",
        _ => "ferr-photo-broken",
    };
    t(l, id)
}

async fn submit_post(
    State(st): State<AppState>,
    caller: Result<Caller, ApiError>,
    l: Lang,
    req: Request,
) -> Result<Response, PageError> {
    let (c, up) = api::upload_gate(&st, caller, Role::Volunteer, req).await?;
    c.check_csrf(up.text("csrf"))?;
    let pre = Prefill::from_upload(&up);
    let form_error = |status: StatusCode, m: String| -> Result<Response, PageError> {
        Ok(render(status, submit_form(l, &c, Some(&m), &pre)))
    };
    // The photo's own problems first, said plainly (headers only: cheap).
    match up.photo.as_deref().filter(|p| !p.is_empty()) {
        None => return form_error(StatusCode::BAD_REQUEST, t(l, "ferr-no-photo")),
        Some(p) => {
            if let Err(e) = intake::inspect_bytes(p, &st.config.limits) {
                tracing::info!(
                    event = "upload_refused",
                    reason = api::refusal_kind(&e),
                    bytes = p.len(),
                    "photo refused before decoding"
                );
                let text = photo_error_text(l, &e);
                return form_error(ApiError::from(e).status, text);
            }
        }
    }
    match api::do_submit(&st, &c, up, true).await {
        Ok(r) => Ok(render(
            StatusCode::CREATED,
            page(
                l,
                &t(l, "receipt-title"),
                Some(&c),
                html! {
                    h1 { (t(l, "receipt-title")) }
                    p.receipt { (t(l, "receipt-number")) " " strong #receipt { (r.receipt) } }
                    @if r.faces == 0 {
                        p #no-face.notice role="status" { (t(l, "receipt-no-face")) }
                    } @else {
                        p #thanks { (t(l, "receipt-thanks")) }
                    }
                    p.hint #received { (ta(l, "receipt-received", &[("time", fmt_time(l, r.received_at).as_str().into())])) }
                    p { a.button href="/submit" { (t(l, "receipt-another")) } }
                },
            ),
        )),
        Err(api::SubmitError::Field(e)) => {
            form_error(StatusCode::UNPROCESSABLE_ENTITY, field_error_text(l, &e))
        }
        Err(api::SubmitError::Other(e)) if e.status.is_client_error() => {
            form_error(e.status, error_text(l, &e))
        }
        Err(api::SubmitError::Other(e)) => Err(e.into()),
    }
}

// ---------- review ----------

fn band_badge(l: Lang, band: &str) -> Markup {
    html! { span class=(format!("band band-{band}")) { (word(l, "band", band)) } }
}

/// The plain-words evidence of a band, in `l`: "Strong: fewer than 1 in
/// 1,000 different children score this close".
fn evidence(l: Lang, band: &str) -> String {
    match band {
        "strong" | "possible" | "weak" => t(l, &format!("evidence-{band}")),
        _ => t(l, "evidence-unknown"),
    }
}

/// Below this false-match rate (1 in 10,000) the calibration is not read
/// as a number: it says "fewer than 1 in 10,000", as `ranking::rate`
/// says "<0.01%".
const ONE_IN_FLOOR: u64 = 10_000;

/// "about 1 in N" (message `id`), or "fewer than 1 in 10,000" (`floor`)
/// when N is past what the calibration can tell.
fn one_in_text(l: Lang, n: u64, id: &str, floor: &str) -> String {
    if n > ONE_IN_FLOOR {
        ta(l, floor, &[("n", grouped(ONE_IN_FLOOR).as_str().into())])
    } else {
        ta(l, id, &[("n", grouped(n).as_str().into())])
    }
}

/// `n` with thousands separators (1,000; 12,345).
fn grouped(n: u64) -> String {
    let d = n.to_string();
    let mut out = String::with_capacity(d.len() + d.len() / 3);
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The queue's filter form and list.
async fn review_page(
    State(st): State<AppState>,
    PageCaller(c): PageCaller,
    l: Lang,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
    axum::extract::Query(q): axum::extract::Query<api::QueueQuery>,
) -> Result<Response, PageError> {
    c.require(Role::CaseWorker)?;
    let f = q.filter(&c.user.username)?;
    let items = blocking(|| st.service.review_queue_filtered(&c.actor(), &f))?;
    let workers = api::case_workers(&st)?;
    let me = c.user.username.as_str();
    let query = raw.unwrap_or_default();
    let (here, csv) = if query.is_empty() {
        ("/review".to_string(), "/api/review/export.csv".to_string())
    } else {
        (
            format!("/review?{query}"),
            format!("/api/review/export.csv?{query}"),
        )
    };
    let assignee_value = match &f.assignee {
        Assignee::To(name) => name.as_str(),
        Assignee::Anyone | Assignee::Unassigned => "",
    };
    let unassigned = f.assignee == Assignee::Unassigned;
    let state_value = match f.state {
        None => "all",
        Some(s) => s.as_str(),
    };
    let band_value = f.band.map(|b| b.as_str()).unwrap_or("");
    let case_value = f.case.map(|c| c.to_string()).unwrap_or_default();
    Ok(render(
        StatusCode::OK,
        page(
            l,
            &t(l, "review-title"),
            Some(&c),
            html! {
                h1 { (t(l, "review-title")) }
                p.hint { (t(l, "review-hint")) }
                form.filters #filters method="get" action="/review" {
                    label { (t(l, "filter-case")) input type="number" name="case" min="1" value=(case_value) placeholder=(t(l, "filter-any")); }
                    label { (t(l, "filter-band"))
                        select name="band" {
                            option value="" selected[band_value.is_empty()] { (t(l, "filter-any")) }
                            @for b in ["strong", "possible", "weak"] {
                                option value=(b) selected[band_value == b] { (word(l, "band", b)) }
                            }
                        }
                    }
                    label { (t(l, "filter-state"))
                        select name="state" {
                            @for s in ["pending", "confirmed", "rejected"] {
                                option value=(s) selected[state_value == s] { (word(l, "state", s)) }
                            }
                            option value="all" selected[state_value == "all"] { (t(l, "filter-all-states")) }
                        }
                    }
                    label { (t(l, "filter-assignee"))
                        select name="assignee" {
                            option value="" selected[assignee_value.is_empty()] { (t(l, "filter-any")) }
                            @for w in &workers {
                                option value=(w) selected[assignee_value == w] { (w) @if w == me { " (" (t(l, "review-me")) ")" } }
                            }
                        }
                    }
                    label.check {
                        input #filter-unassigned type="checkbox" name="unassigned" value="true" checked[unassigned];
                        span { (t(l, "filter-unassigned")) }
                    }
                    button type="submit" { (t(l, "filter-apply")) }
                    a href="/review" { (t(l, "filter-clear")) }
                }
                p { a #queue-csv href=(csv) download { (t(l, "review-export-csv")) } }
                @if items.is_empty() { p #queue-empty { (t(l, "review-empty")) } }
                ul.queue #queue {
                    @for i in &items {
                        li.queue-item data-match=(i.match_id) data-band=(i.band) data-state=(i.state) data-new=(i.new) {
                            img.thumb src=(format!("/api/sightings/{}/photo", i.sighting_id)) alt=(ta(l, "review-sighting-alt", &[("id", i.sighting_id.into())]));
                            div {
                                a href=(format!("/review/{}", i.match_id)) { (ta(l, "review-item-link", &[("sighting", i.sighting_id.into()), ("case", i.case_id.into()), ("name", i.child_name.as_str().into())])) }
                                " " (band_badge(l, i.band))
                                @if i.new { " " span.new-marker { (t(l, "review-new")) } }
                                @if i.state != "pending" { " " span.state { (word(l, "state", i.state)) } }
                                div.why { (evidence(l, i.band)) }
                                div.hint { (ta(l, "review-queued-at", &[("time", fmt_time(l, i.created_at).as_str().into())])) }
                                (assign_forms(l, &c, i.match_id, i.assignee.as_deref(), &workers, &here))
                            }
                        }
                    }
                }
            },
        ),
    ))
}

fn sighting_facts(l: Lang, s: &SightingView) -> Markup {
    html! {
        dl.facts {
            @if let Some(who) = &s.submitter { dt { (t(l, "fact-submitter")) } dd #submitter { (who.strip_prefix("web:").unwrap_or(who)) } }
            dt { (t(l, "fact-received")) } dd { (fmt_time(l, s.added_at)) }
            @if let Some(x) = &s.seen_at { dt { (t(l, "fact-seen-at")) } dd { (seen_at_label(l, x)) } }
            @if let Some(p) = &s.place { dt { (t(l, "fact-place")) } dd { (p) } }
            @if let Some([a, b]) = s.location { dt { (t(l, "fact-location")) } dd { (format!("{a:.5}, {b:.5}")) } }
            @if let Some([a, b]) = s.apparent_age { dt { (t(l, "fact-age")) } dd { (a) "–" (b) } }
            @if let Some(x) = &s.sex { dt { (t(l, "fact-sex")) } dd { (word(l, "sex", x)) } }
            @if let Some(n) = &s.note { dt { (t(l, "fact-note")) } dd { (n) } }
            dt { (t(l, "fact-faces")) } dd { (s.faces) }
        }
    }
}

/// A stored "when seen": a UTC time is shown in the organisation's zone,
/// the local way; a plain date (or anything else) as stored.
pub(super) fn seen_at_label(l: Lang, stored: &str) -> String {
    match stored.parse::<jiff::Timestamp>() {
        Ok(ts) => fmt_time(l, ts.as_second()),
        Err(_) => stored.to_string(),
    }
}

fn candidate_gallery(l: Lang, photos: &[CandidatePhoto]) -> Markup {
    html! {
        div.gallery {
            @for p in photos {
                figure {
                    img src=(p.url) alt=(ta(l, "review-case-photo-alt", &[("id", p.photo_id.into())]));
                    figcaption { (age_label(l, p.age_months)) " · " (ta(l, "review-distance", &[("d", format!("{:.3}", p.distance).as_str().into())])) }
                }
            }
        }
    }
}

/// The sighting photo with the compared face boxed: an SVG laid over the
/// image in the photo's own pixel coordinates, so it scales with it.
fn boxed_photo(l: Lang, url: &str, face: Option<&FaceBox>) -> Markup {
    html! {
        figure.boxed {
            div.photo-box {
                img.main src=(url) alt=(t(l, "review-sighting-photo-alt"));
                @if let Some(f) = face {
                    svg.overlay #face-overlay viewBox=(format!("0 0 {} {}", f.width, f.height)) preserveAspectRatio="none" aria-hidden="true" {
                        rect.face-box #face-box x=(f.bbox[0]) y=(f.bbox[1]) width=(f.bbox[2] - f.bbox[0]) height=(f.bbox[3] - f.bbox[1]) {}
                    }
                }
            }
            figcaption.hint { @if face.is_some() { (t(l, "review-box-caption")) } @else { (t(l, "review-no-box")) } }
        }
    }
}

/// A face cropped to an equal-size square around its box (an SVG view of
/// the stored photo: no image is cut or stored).
fn face_crop(f: &FaceBox, class: &str, label: &str) -> Markup {
    let [x, y, side] = f.square(1.6);
    html! {
        svg class=(class) viewBox=(format!("{x:.1} {y:.1} {side:.1} {side:.1}")) preserveAspectRatio="xMidYMid slice" role="img" aria-label=(label) {
            image href=(f.photo_url) width=(f.width) height=(f.height) {}
        }
    }
}

/// The two compared faces side by side, each a link that opens it large
/// (a CSS `:target` overlay; no script).
fn face_pair(l: Lang, s: Option<&FaceBox>, c: Option<&FaceBox>) -> Markup {
    let faces = [
        ("zoom-sighting", s, t(l, "review-crop-sighting")),
        ("zoom-case", c, t(l, "review-crop-case")),
    ];
    html! {
        section.crops #crops {
            h2 { (t(l, "review-faces")) }
            div.crop-row {
                @for (anchor, face, label) in &faces {
                    figure.crop-fig {
                        @if let Some(f) = face {
                            a.zoom href=(format!("#{anchor}")) title=(t(l, "review-zoom")) { (face_crop(f, "crop", label)) }
                        } @else {
                            div.crop.crop-missing { (t(l, "review-no-face")) }
                        }
                        figcaption { (label) }
                    }
                }
            }
            p.hint { (t(l, "review-crops-hint")) }
            @for (anchor, face, label) in &faces {
                @if let Some(f) = face {
                    div.lightbox id=(anchor) {
                        a.close href="#crops" aria-label=(t(l, "review-zoom-close")) { "×" }
                        (face_crop(f, "crop-big", label))
                    }
                }
            }
        }
    }
}

/// The numbers behind the band, for whoever wants them.
fn numbers(l: Lang, v: &ReviewView) -> Markup {
    let w = v.explanation.as_ref();
    html! {
        details.numbers #numbers {
            summary { (t(l, "review-numbers")) }
            dl.facts {
                @if let Some(f) = v.est_false_match_rate { dt { (t(l, "num-fmr")) } dd #num-fmr { (homeward_match::ranking::rate(f)) } }
                @if let Some(n) = v.one_in { dt { (t(l, "num-one-in")) } dd { (one_in_text(l, n, "num-one-in-value", "num-one-in-floor")) } }
                @if let Some(d) = v.distance { dt { (t(l, "num-distance")) } dd { (format!("{d:.3}")) } }
                @if let Some(sd) = w.and_then(|w| w.best.sface_distance) { dt { (t(l, "num-sface")) } dd { (format!("{sd:.3}")) } }
                @if let Some(s) = v.score { dt { (t(l, "num-score")) } dd { (format!("{s:.3}")) } }
                @if let Some(w) = w {
                    dt { (t(l, "num-photos")) } dd { (w.photos_compared) }
                    @if let Some(g) = w.best.age_gap_years { dt { (t(l, "num-age-gap")) } dd { (ta(l, "num-years", &[("y", format!("{g:.1}").as_str().into())])) } }
                    @if let Some(a) = w.expected_age_years { dt { (t(l, "num-expected-age")) } dd { (ta(l, "num-years", &[("y", format!("{a:.1}").as_str().into())])) } }
                    @if let Some(sid) = w.best.enrolled_from_sighting { dt { (t(l, "num-enrolled")) } dd { (ta(l, "num-enrolled-value", &[("id", sid.into())])) } }
                    dt { (t(l, "num-models")) } dd { (w.models) " · " (w.fusion) }
                    @for p in &w.priors { dt { (t(l, "num-prior")) } dd { (word(l, "prior", &p.name)) " +" (format!("{:.3}", p.penalty)) } }
                }
                dt { (t(l, "num-engine-line")) } dd lang="en" { (v.why) }
            }
        }
    }
}

async fn review_item_page(
    State(st): State<AppState>,
    PageCaller(c): PageCaller,
    l: Lang,
    Path(id): Path<u64>,
) -> Result<Response, PageError> {
    c.require(Role::CaseWorker)?;
    let v = blocking(|| st.service.review_item(&c.actor(), id))?;
    let workers = api::case_workers(&st)?;
    let unknown = t(l, "review-unknown");
    let here = format!("/review/{id}");
    Ok(render(
        StatusCode::OK,
        page(
            l,
            &t(l, "review-title"),
            Some(&c),
            html! {
                h1 { (ta(l, "review-heading", &[("sighting", v.sighting.id.into()), ("case", v.case.id.into())])) }
                section.evidence #evidence {
                    p { (band_badge(l, v.band)) " " strong #evidence-text { (evidence(l, v.band)) } }
                    @if let Some(n) = v.one_in { p.hint #one-in { (one_in_text(l, n, "evidence-one-in", "evidence-one-in-floor")) } }
                    p.hint { (t(l, "review-hint")) }
                    (numbers(l, &v))
                }
                (assign_forms(l, &c, id, v.assignee.as_deref(), &workers, &here))
                (face_pair(l, v.sighting_face.as_ref(), v.case_face.as_ref()))
                div.side-by-side {
                    section.sighting {
                        h2 { (t(l, "review-sighting")) }
                        (boxed_photo(l, &v.sighting.photo_url, v.sighting_face.as_ref()))
                        (sighting_facts(l, &v.sighting))
                    }
                    section.case {
                        h2 { a href=(format!("/cases/{}", v.case.id)) { (v.case.child_name) } " " span.status #case-status { (word(l, "status", v.case.status)) } }
                        p.hint {
                            (ta(l, "review-case-facts", &[
                                ("since", v.case.missing_date.as_deref().unwrap_or(&unknown).into()),
                                ("place", v.case.missing_place.as_str().into()),
                                ("sex", word(l, "sex", v.case.sex).as_str().into()),
                            ]))
                            @if let Some(y) = v.case.birth_year { " · " (ta(l, "review-born", &[("year", y.into())])) }
                        }
                        (candidate_gallery(l, &v.candidate_photos))
                        (status_form(l, &c, v.case.id, v.case.status, &here))
                        p { a #case-audit href=(format!("/audit?case={}", v.case.id)) { (t(l, "audit-for-case")) } }
                    }
                }
                @if v.state == "pending" {
                    form.stack #decide method="post" action=(here) {
                        input type="hidden" name="csrf" value=(c.csrf());
                        label { (t(l, "review-note")) textarea name="note" rows="2" maxlength="2000" {} }
                        div.buttons {
                            button.confirm type="submit" name="decision" value="confirm" { (t(l, "review-confirm")) }
                            button.reject type="submit" name="decision" value="reject" { (t(l, "review-reject")) }
                        }
                    }
                } @else {
                    p #decision.decided { (t(l, "review-decision")) " " strong { (word(l, "state", v.state)) }
                        @if let Some(r) = &v.reviewer { " " (ta(l, "review-by", &[("who", r.strip_prefix("web:").unwrap_or(r).into())])) }
                        @if let Some(x) = v.decided_at { ", " (fmt_time(l, x)) }
                        @if let Some(n) = &v.note { ". " (ta(l, "review-note-was", &[("note", n.as_str().into())])) }
                    }
                    form.inline #undo method="post" action=(here) {
                        input type="hidden" name="csrf" value=(c.csrf());
                        button.link-dark type="submit" name="decision" value="undo" { (t(l, "review-undo")) }
                    }
                    p.hint { (t(l, "review-undo-hint")) }
                    p { a href="/review" { (t(l, "review-back")) } }
                }
            },
        ),
    ))
}

/// Buttons that move a case to another status; they come back to `next`.
pub(super) fn status_form(l: Lang, c: &Caller, case: u64, status: &str, next: &str) -> Markup {
    html! {
        form.inline.status-form #case-status-form method="post" action=(format!("/cases/{case}/status")) {
            input type="hidden" name="csrf" value=(c.csrf());
            input type="hidden" name="next" value=(next);
            label { (t(l, "case-why")) textarea name="why" rows="2" maxlength="4000" {} }
            div.buttons {
                @for to in ["found", "closed", "searching"] {
                    @if to != status {
                        button.secondary type="submit" name="status" value=(to) { (t(l, &format!("case-set-{to}"))) }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct DecisionForm {
    csrf: String,
    decision: String,
    #[serde(default)]
    note: String,
}

async fn review_decide(
    State(st): State<AppState>,
    PageCaller(c): PageCaller,
    Path(id): Path<u64>,
    PageForm(f): PageForm<DecisionForm>,
) -> Result<Response, PageError> {
    c.require(Role::CaseWorker)?;
    c.check_csrf(Some(&f.csrf))?;
    let state = match f.decision.as_str() {
        "confirm" => MatchState::Confirmed,
        "reject" => MatchState::Rejected,
        "undo" => {
            blocking(|| st.service.undo(&c.actor(), id))?;
            return Ok(see_other(&format!("/review/{id}")));
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "decision must be confirm, reject or undo, got `{}`",
                other.chars().take(40).collect::<String>()
            ))
            .into())
        }
    };
    api::do_decide(&st, &c, id, state, Some(&f.note))?;
    Ok(see_other(&format!("/review/{id}")))
}

#[derive(Deserialize)]
struct StatusForm {
    csrf: String,
    status: String,
    #[serde(default)]
    why: String,
    #[serde(default)]
    next: String,
}

/// A same-site path to go back to, or `fallback`.
fn same_site(next: &str, fallback: String) -> String {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && next.len() <= 200
        && next.chars().all(|c| c.is_ascii_graphic());
    if ok {
        next.to_string()
    } else {
        fallback
    }
}

async fn case_status_post(
    State(st): State<AppState>,
    PageCaller(c): PageCaller,
    Path(id): Path<u64>,
    PageForm(f): PageForm<StatusForm>,
) -> Result<Response, PageError> {
    c.require(Role::CaseWorker)?;
    c.check_csrf(Some(&f.csrf))?;
    let to = f
        .status
        .parse::<CaseStatus>()
        .map_err(|e| ApiError::bad_request(format!("status: {e}")))?;
    let why = non_empty(f.why);
    blocking(|| {
        st.service
            .set_case_status(&c.actor(), id, to, why.as_deref())
    })?;
    Ok(see_other(&same_site(&f.next, format!("/cases/{id}"))))
}

#[derive(Deserialize)]
struct AssignForm {
    csrf: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    next: String,
}

/// Assigns a match from the queue or the review page (an empty name
/// leaves it to nobody), then goes back to `next`.
async fn review_assign(
    State(st): State<AppState>,
    PageCaller(c): PageCaller,
    Path(id): Path<u64>,
    PageForm(f): PageForm<AssignForm>,
) -> Result<Response, PageError> {
    c.require(Role::CaseWorker)?;
    c.check_csrf(Some(&f.csrf))?;
    let who = non_empty(f.assignee);
    api::do_assign(&st, &c, id, who.as_deref())?;
    Ok(see_other(&same_site(&f.next, format!("/review/{id}"))))
}

/// Who a match is assigned to, and the forms that assign it: to me, or
/// to a case worker chosen from the accounts (or nobody).
fn assign_forms(
    l: Lang,
    c: &Caller,
    id: u64,
    current: Option<&str>,
    workers: &[String],
    next: &str,
) -> Markup {
    let me = c.user.username.as_str();
    html! {
        div.assign data-assignee=(current.unwrap_or("")) {
            span.assignee {
                @if let Some(a) = current { (ta(l, "review-assigned-to", &[("who", a.into())])) }
                @else { (t(l, "review-unassigned")) }
            }
            @if current != Some(me) {
                form.inline.assign-me method="post" action=(format!("/review/{id}/assign")) {
                    input type="hidden" name="csrf" value=(c.csrf());
                    input type="hidden" name="next" value=(next);
                    input type="hidden" name="assignee" value=(me);
                    button.link-dark type="submit" { (t(l, "review-assign-me")) }
                }
            }
            form.inline.assign-to method="post" action=(format!("/review/{id}/assign")) {
                input type="hidden" name="csrf" value=(c.csrf());
                input type="hidden" name="next" value=(next);
                select name="assignee" aria-label=(t(l, "review-assign")) {
                    option value="" selected[current.is_none()] { (t(l, "review-assign-nobody")) }
                    @for w in workers {
                        option value=(w) selected[current == Some(w.as_str())] { (w) }
                    }
                }
                button.secondary type="submit" { (t(l, "review-assign")) }
            }
        }
    }
}

// ---------- audit ----------

#[derive(Deserialize, Default)]
struct AuditPageQuery {
    #[serde(default)]
    case: Option<String>,
}

/// An audit action in `l`: `review:confirmed` → "decision: confirmed".
fn audit_action(l: Lang, action: &str) -> String {
    let (kind, detail) = action.split_once(':').unwrap_or((action, ""));
    let name = word(l, "audit-action", kind);
    if detail.is_empty() {
        return name;
    }
    let detail = match kind {
        "review" => word(l, "state", detail),
        "set_status" => word(l, "status", detail),
        _ => detail.to_string(),
    };
    let detail = if detail == "undone" {
        t(l, "audit-undone")
    } else {
        detail
    };
    format!("{name}: {detail}")
}

/// An audit target in `l`: `case:12` → "case 12".
fn audit_target(l: Lang, target: &str) -> Markup {
    let parts: Vec<(&str, &str)> = target
        .split(' ')
        .filter_map(|p| p.split_once(':'))
        .collect();
    html! {
        @for (i, (kind, id)) in parts.iter().enumerate() {
            @if i > 0 { " · " }
            @let label = word(l, "audit-target", kind);
            @match (*kind, id.parse::<u64>()) {
                ("case", Ok(n)) => { a href=(format!("/cases/{n}")) { (label) " " (n) } }
                ("match", Ok(n)) => { a href=(format!("/review/{n}")) { (label) " " (n) } }
                _ => { (label) " " (id) }
            }
        }
        @if parts.is_empty() { (target) }
    }
}

async fn audit_page(
    State(st): State<AppState>,
    PageCaller(c): PageCaller,
    l: Lang,
    axum::extract::Query(q): axum::extract::Query<AuditPageQuery>,
) -> Result<Response, PageError> {
    c.require(Role::CaseWorker)?;
    let case = match q.case.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_filter",
                    format!(
                        "`case` must be a case number such as 12, got `{}`",
                        v.chars().take(40).collect::<String>()
                    ),
                )
                .into())
            }
        },
    };
    let rows = blocking(|| st.service.registry_audit(&c.actor(), case, 500))?;
    let title = match case {
        Some(n) => ta(l, "audit-title-case", &[("case", n.into())]),
        None => t(l, "audit-title"),
    };
    Ok(render(
        StatusCode::OK,
        page(
            l,
            &title,
            Some(&c),
            html! {
                h1 { (title) }
                p.hint { (t(l, "audit-hint")) }
                form.filters method="get" action="/audit" {
                    label { (t(l, "filter-case")) input type="number" name="case" min="1" value=(case.map(|n| n.to_string()).unwrap_or_default()) placeholder=(t(l, "filter-any")); }
                    button type="submit" { (t(l, "filter-apply")) }
                    @if let Some(n) = case { a href=(format!("/cases/{n}")) { (t(l, "audit-back-case")) } }
                }
                @if rows.is_empty() { p #audit-empty { (t(l, "audit-empty")) } }
                @else {
                    div.table-wrap {
                        table.list #audit {
                            thead { tr { th { (t(l, "audit-when")) } th { (t(l, "audit-who")) } th { (t(l, "audit-what")) } th { (t(l, "audit-on")) } } }
                            tbody {
                                @for r in &rows {
                                    tr data-action=(r.action) {
                                        td { (fmt_time(l, r.at)) }
                                        td { (r.actor.strip_prefix("web:").unwrap_or(&r.actor)) }
                                        td { (audit_action(l, &r.action)) }
                                        td { (audit_target(l, &r.target)) }
                                    }
                                }
                            }
                        }
                    }
                }
            },
        ),
    ))
}

// ---------- cases ----------

async fn cases_page(
    State(st): State<AppState>,
    PageCaller(c): PageCaller,
    l: Lang,
) -> Result<Response, PageError> {
    c.require(Role::CaseWorker)?;
    let cases = blocking(|| st.service.list_cases(&c.actor()))?;
    Ok(render(
        StatusCode::OK,
        page(
            l,
            &t(l, "cases-title"),
            Some(&c),
            html! {
                h1 { (t(l, "cases-title")) }
                table.list {
                    thead { tr { th { "#" } th { (t(l, "col-name")) } th { (t(l, "col-missing-since")) } th { (t(l, "col-from")) } th { (t(l, "col-status")) } th { (t(l, "col-photos")) } th { (t(l, "col-pending")) } } }
                    tbody {
                        @for k in &cases {
                            tr {
                                td { (k.id) }
                                td { a href=(format!("/cases/{}", k.id)) { (k.child_name) } }
                                td { (k.missing_date.as_deref().unwrap_or("")) }
                                td { (k.missing_place) }
                                td { (word(l, "status", k.status)) }
                                td { (k.photos) }
                                td { (k.pending_matches) }
                            }
                        }
                    }
                }
                h2 { (t(l, "cases-new")) }
                form.stack method="post" action="/cases" {
                    input type="hidden" name="csrf" value=(c.csrf());
                    label { (t(l, "case-child-name")) input name="child_name" required maxlength="200"; }
                    label { (t(l, "case-sex")) select name="sex" { option value="unknown" { (t(l, "sex-unknown")) } option value="female" { (t(l, "sex-female")) } option value="male" { (t(l, "sex-male")) } } }
                    label { (t(l, "case-birth-date")) input type="date" name="birth_date"; }
                    label { (t(l, "case-missing-since")) input type="date" name="missing_date"; }
                    label { (t(l, "case-missing-from")) input name="missing_place" maxlength="200"; }
                    label { (t(l, "case-notes")) textarea name="notes" rows="2" {} }
                    button type="submit" { (t(l, "case-create")) }
                }
            },
        ),
    ))
}

#[derive(Deserialize)]
struct CaseForm {
    csrf: String,
    child_name: String,
    #[serde(default)]
    sex: String,
    #[serde(default)]
    birth_date: String,
    #[serde(default)]
    missing_date: String,
    #[serde(default)]
    missing_place: String,
    #[serde(default)]
    notes: String,
}

pub(super) fn non_empty(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

async fn cases_create(
    State(st): State<AppState>,
    PageCaller(c): PageCaller,
    PageForm(f): PageForm<CaseForm>,
) -> Result<Response, PageError> {
    c.require(Role::CaseWorker)?;
    c.check_csrf(Some(&f.csrf))?;
    let case = CaseIn {
        child_name: f.child_name,
        sex: non_empty(f.sex),
        birth_date: non_empty(f.birth_date),
        birth_year: None,
        missing_date: non_empty(f.missing_date),
        missing_place: f.missing_place,
        missing_location: None,
        status: None,
        contact_ref: None,
        notes: non_empty(f.notes),
    }
    .into_new_case()?;
    let id = blocking(|| st.service.create_case(&c.actor(), &case))?;
    Ok(see_other(&format!("/cases/{id}")))
}

// ---------- admin ----------

async fn admin_page(
    State(st): State<AppState>,
    PageCaller(c): PageCaller,
    l: Lang,
) -> Result<Response, PageError> {
    admin_view(&st, &c, l, None)
}

/// The admin page; `new_token` is shown once, right after it was created.
fn admin_view(
    st: &AppState,
    c: &Caller,
    l: Lang,
    new_token: Option<&str>,
) -> Result<Response, PageError> {
    c.require(Role::Admin)?;
    let users = blocking(|| st.auth.users())?;
    let tokens = blocking(|| st.auth.tokens())?;
    blocking(|| st.auth.log(&c.actor(), "admin_page", "users,tokens"))?;
    Ok(render(
        StatusCode::OK,
        page(
            l,
            &t(l, "admin-title"),
            Some(c),
            html! {
                h1 { (t(l, "admin-heading")) }
                @if let Some(tok) = new_token {
                    p.notice role="status" { (t(l, "admin-new-token")) " " code #new-token { (tok) } }
                }
                h2 { (t(l, "admin-users")) }
                table.list {
                    thead { tr { th { "#" } th { (t(l, "col-name")) } th { (t(l, "col-role")) } th { (t(l, "col-state")) } th {} } }
                    tbody {
                        @for u in &users {
                            tr {
                                td { (u.id) } td { (u.username) } td { (word(l, "role", u.role.as_str())) }
                                td { @if u.disabled { (t(l, "state-disabled")) } @else { (t(l, "state-active")) } }
                                td {
                                    @if u.id != c.user.id {
                                        form.inline method="post" action=(format!("/admin/users/{}/disabled", u.id)) {
                                            input type="hidden" name="csrf" value=(c.csrf());
                                            input type="hidden" name="disabled" value=(if u.disabled { "false" } else { "true" });
                                            button type="submit" { @if u.disabled { (t(l, "admin-enable")) } @else { (t(l, "admin-disable")) } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                form.stack method="post" action="/admin/users" {
                    input type="hidden" name="csrf" value=(c.csrf());
                    label { (t(l, "login-username")) input name="username" required maxlength="64"; }
                    label { (ta(l, "admin-password", &[("min", super::auth::MIN_PASSWORD_CHARS.into())])) input type="password" name="password" required autocomplete="new-password"; }
                    label { (t(l, "col-role")) select name="role" { option value="volunteer" { (t(l, "admin-role-volunteer")) } option value="caseworker" { (t(l, "admin-role-caseworker")) } option value="admin" { (t(l, "admin-role-admin")) } } }
                    button type="submit" { (t(l, "admin-create-user")) }
                }
                h2 { (t(l, "admin-tokens")) }
                table.list {
                    thead { tr { th { "#" } th { (t(l, "col-user")) } th { (t(l, "col-name")) } th { (t(l, "col-created")) } th { (t(l, "col-state")) } th {} } }
                    tbody {
                        @for tk in &tokens {
                            tr {
                                td { (tk.id) } td { (tk.username) } td { (tk.name) } td { (fmt_time(l, tk.created_at)) }
                                td { @if tk.revoked { (t(l, "state-revoked")) } @else { (t(l, "state-active")) } }
                                td { @if !tk.revoked {
                                    form.inline method="post" action=(format!("/admin/tokens/{}/revoke", tk.id)) {
                                        input type="hidden" name="csrf" value=(c.csrf());
                                        button type="submit" { (t(l, "admin-revoke")) }
                                    }
                                } }
                            }
                        }
                    }
                }
                form.stack method="post" action="/admin/tokens" {
                    input type="hidden" name="csrf" value=(c.csrf());
                    label { (t(l, "admin-for-user")) select name="user_id" { @for u in &users { option value=(u.id) { (u.username) } } } }
                    label { (t(l, "admin-token-name")) input name="name" required maxlength="100"; }
                    button type="submit" { (t(l, "admin-create-token")) }
                }
                h2 { (t(l, "admin-erase")) }
                p.hint { (t(l, "admin-erase-hint")) }
                form.stack #erase method="post" action="/admin/cases/0/erase" {
                    input type="hidden" name="csrf" value=(c.csrf());
                    label { (t(l, "admin-case-number")) input #erase-id type="number" name="case_id" min="1" required; }
                    label { (t(l, "admin-erase-confirm")) input name="confirm" required pattern="ERASE"; }
                    button.reject type="submit" { (t(l, "admin-erase-submit")) }
                }
            },
        ),
    ))
}

#[derive(Deserialize)]
struct UserForm {
    csrf: String,
    username: String,
    password: String,
    role: String,
}

async fn admin_create_user(
    State(st): State<AppState>,
    PageCaller(c): PageCaller,
    PageForm(f): PageForm<UserForm>,
) -> Result<Response, PageError> {
    c.require(Role::Admin)?;
    c.check_csrf(Some(&f.csrf))?;
    api::do_create_user(
        &st,
        &c,
        &UserIn {
            username: f.username,
            password: f.password,
            role: f.role,
        },
    )?;
    Ok(see_other("/admin"))
}

#[derive(Deserialize)]
struct DisabledForm {
    csrf: String,
    disabled: bool,
}

async fn admin_set_disabled(
    State(st): State<AppState>,
    PageCaller(c): PageCaller,
    Path(id): Path<u64>,
    PageForm(f): PageForm<DisabledForm>,
) -> Result<Response, PageError> {
    c.require(Role::Admin)?;
    c.check_csrf(Some(&f.csrf))?;
    if id == c.user.id {
        return Err(ApiError::conflict("you cannot disable your own account").into());
    }
    blocking(|| st.auth.set_disabled(id, f.disabled))?;
    let action = if f.disabled {
        "disable_user"
    } else {
        "enable_user"
    };
    blocking(|| st.auth.log(&c.actor(), action, &format!("user:{id}")))?;
    Ok(see_other("/admin"))
}

#[derive(Deserialize)]
struct TokenForm {
    csrf: String,
    user_id: u64,
    name: String,
}

async fn admin_create_token(
    State(st): State<AppState>,
    PageCaller(c): PageCaller,
    l: Lang,
    PageForm(f): PageForm<TokenForm>,
) -> Result<Response, PageError> {
    c.require(Role::Admin)?;
    c.check_csrf(Some(&f.csrf))?;
    let t = api::do_create_token(
        &st,
        &c,
        &TokenIn {
            user_id: f.user_id,
            name: f.name,
        },
    )?;
    // Shown once, in this response (no-store), never in a URL.
    admin_view(&st, &c, l, Some(&t.token))
}

async fn admin_revoke_token(
    State(st): State<AppState>,
    PageCaller(c): PageCaller,
    Path(id): Path<u64>,
    PageForm(f): PageForm<CsrfForm>,
) -> Result<Response, PageError> {
    c.require(Role::Admin)?;
    c.check_csrf(Some(&f.csrf))?;
    blocking(|| st.auth.revoke_token(id))?;
    blocking(|| {
        st.auth
            .log(&c.actor(), "revoke_token", &format!("token:{id}"))
    })?;
    Ok(see_other("/admin"))
}

#[derive(Deserialize)]
struct EraseForm {
    csrf: String,
    #[serde(default)]
    case_id: Option<u64>,
    confirm: String,
}

async fn admin_erase(
    State(st): State<AppState>,
    PageCaller(c): PageCaller,
    l: Lang,
    Path(id): Path<u64>,
    PageForm(f): PageForm<EraseForm>,
) -> Result<Response, PageError> {
    c.require(Role::Admin)?;
    c.check_csrf(Some(&f.csrf))?;
    // The form posts to /admin/cases/0/erase with the number in a field.
    let id = if id == 0 { f.case_id.unwrap_or(0) } else { id };
    if f.confirm != "ERASE" {
        return Err(ApiError::unprocessable("type ERASE to confirm the erasure").into());
    }
    blocking(|| st.service.erase_case(&c.actor(), id))?;
    Ok(render(
        StatusCode::OK,
        page(
            l,
            &t(l, "admin-erased-title"),
            Some(&c),
            html! { h1 { (ta(l, "admin-erased", &[("id", id.into())])) } p { a href="/admin" { (t(l, "admin-back")) } } },
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_words_are_translated_or_kept() {
        assert_eq!(word(Lang::ZhCn, "band", "strong"), "强");
        assert_eq!(word(Lang::En, "state", "confirmed"), "confirmed");
        assert_eq!(word(Lang::ZhCn, "status", "searching"), "寻找中");
        assert_eq!(word(Lang::ZhCn, "band", "unheard-of"), "unheard-of");
        assert_eq!(age_label(Lang::ZhCn, Some(100)), "8 岁 4 个月");
        assert_eq!(age_label(Lang::En, Some(100)), "8 y 4 m");
    }

    #[test]
    fn zh_errors_say_what_the_code_means() {
        let e = ApiError::rate_limited(7);
        assert_eq!(
            error_text(Lang::ZhCn, &e),
            "请求过于频繁，请等待 7 秒后重试。"
        );
        assert_eq!(error_text(Lang::En, &e), e.message);
        let odd = ApiError::new(StatusCode::IM_A_TEAPOT, "teapot", "short and stout");
        assert_eq!(error_text(Lang::ZhCn, &odd), "请求未能完成。");
    }

    #[test]
    fn evidence_is_plain_words_in_both_languages() {
        assert_eq!(
            evidence(Lang::En, "strong"),
            "Strong: fewer than 1 in 1,000 different children score this close."
        );
        assert!(evidence(Lang::ZhCn, "possible").starts_with("可能："));
        assert!(evidence(Lang::ZhCn, "unknown").contains("无法读取"));
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(999), "999");
        assert_eq!(
            one_in_text(Lang::En, 250, "evidence-one-in", "evidence-one-in-floor"),
            "For this match: about 1 in 250 different children would score this close."
        );
        assert!(one_in_text(
            Lang::En,
            7_464_320,
            "evidence-one-in",
            "evidence-one-in-floor"
        )
        .contains("fewer than 1 in 10,000"));
        assert_eq!(
            audit_action(Lang::ZhCn, "review:confirmed"),
            "审核结论: 已确认"
        );
        assert_eq!(audit_action(Lang::En, "review:undone"), "decision: undone");
        assert_eq!(audit_action(Lang::En, "made_up"), "made_up");
        assert_eq!(same_site("/review/3", "/x".into()), "/review/3");
        for bad in ["//evil.example", "https://evil.example", "/\\evil", ""] {
            assert_eq!(same_site(bad, "/cases/1".into()), "/cases/1", "{bad}");
        }
    }

    #[test]
    fn pages_escape_text() {
        let m = html! { p { ("<script>alert(1)</script>") } };
        assert!(!m.into_string().contains("<script>"));
    }
}
