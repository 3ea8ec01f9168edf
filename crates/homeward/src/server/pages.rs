//! Server-rendered pages (maud): sign-in, the mobile submission page and its
//! receipt, the review queue, case pages with photo galleries by age, and
//! registry administration. Plain forms with a CSRF field; a little script
//! from `/static/app.js`, no inline script or style, no third-party assets.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use homeward_core::store::MatchState;
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;

use super::api::{self, CaseIn, TokenIn, UserIn};
use super::auth::{random_hex, Role};
use super::error::ApiError;
use super::service::{CandidatePhoto, SightingView};
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
        .get("/cases", cases_page)
        .post("/cases", cases_create)
        .get("/cases/{id}", case_page)
        .post("/cases/{id}/photos", case_photo_post)
        .get("/admin", admin_page)
        .post("/admin/users", admin_create_user)
        .post("/admin/users/{id}/disabled", admin_set_disabled)
        .post("/admin/tokens", admin_create_token)
        .post("/admin/tokens/{id}/revoke", admin_revoke_token)
        .post("/admin/cases/{id}/erase", admin_erase)
        .get("/static/app.js", app_js)
        .get("/static/app.css", app_css)
        .get("/favicon.ico", icon)
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

fn page(title: &str, caller: Option<&Caller>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · Homeward" }
                link rel="stylesheet" href="/static/app.css";
                script src="/static/app.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "Homeward" }
                    @if let Some(c) = caller {
                        nav {
                            @if c.user.role >= Role::Volunteer { a href="/submit" { "Report a sighting" } }
                            @if c.user.role >= Role::CaseWorker {
                                a href="/review" { "Review queue" }
                                a href="/cases" { "Cases" }
                            }
                            @if c.user.role >= Role::Admin { a href="/admin" { "Admin" } }
                        }
                        form.inline method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(c.csrf());
                            span.who { (c.user.username) " (" (c.user.role.as_str()) ")" }
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

fn render(status: StatusCode, m: Markup) -> Response {
    (status, Html(m.into_string())).into_response()
}

/// An HTML error page with the error's status.
pub(super) fn error_page(e: &ApiError) -> Response {
    let mut res = render(
        e.status,
        page(
            "Error",
            None,
            html! {
                h1 { "Something went wrong" }
                p.error { (e.message) }
                p { a href="/" { "Back to the start page" } }
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

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

fn fmt_time(t: i64) -> String {
    // UTC, without a date library: days since epoch to a civil date.
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        secs / 3600,
        (secs / 60) % 60
    )
}

fn age_label(months: Option<u32>) -> String {
    match months {
        Some(m) => format!("{}y {}m", m / 12, m % 12),
        None => "age unknown".into(),
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

fn login_form(token: &str, message: Option<&str>) -> Markup {
    page(
        "Sign in",
        None,
        html! {
            h1 { "Sign in" }
            @if let Some(m) = message { p.error role="alert" { (m) } }
            form.stack method="post" action="/login" {
                input type="hidden" name="csrf" value=(token);
                label { "User name" input name="username" autocomplete="username" required; }
                label { "Password" input type="password" name="password" autocomplete="current-password" required; }
                button type="submit" { "Sign in" }
            }
        },
    )
}

async fn login_page(State(st): State<AppState>) -> Result<Response, PageError> {
    let token = random_hex(16).map_err(ApiError::from)?;
    let c = set_cookie(st.login_cookie(), &token, 3600, st.config.secure_cookies);
    let mut res = render(StatusCode::OK, login_form(&token, None));
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
            let mut res = render(e.status, login_form(&f.csrf, Some(&e.message)));
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

fn submit_form(c: &Caller, error: Option<&str>) -> Markup {
    page(
        "Report a sighting",
        Some(c),
        html! {
            h1 { "Report a sighting" }
            p.hint { "Take a photo of the child's face if it is safe to do so. Do not approach or follow the child. If the child is in danger, call the emergency number." }
            @if let Some(m) = error { p.error role="alert" { (m) } }
            form.stack #submit-form method="post" action="/submit" enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(c.csrf());
                label.photo {
                    "Photo"
                    input #photo type="file" name="photo" accept="image/*" capture="environment" required;
                }
                img #preview.preview hidden alt="Preview of the photo";
                fieldset {
                    legend { "Where" }
                    button #locate type="button" { "Add my location" }
                    span #locate-status.hint {}
                    input #lat type="hidden" name="lat";
                    input #lon type="hidden" name="lon";
                    label { "Place (street, landmark)" input name="place" maxlength="200"; }
                }
                label { "Apparent age"
                    select name="apparent_age" {
                        option value="" { "Not sure" }
                        option value="0-3" { "0-3" }
                        option value="4-7" { "4-7" }
                        option value="8-11" { "8-11" }
                        option value="12-14" { "12-14" }
                        option value="15-17" { "15-17" }
                    }
                }
                label { "Apparent sex"
                    select name="sex" {
                        option value="" { "Not sure" }
                        option value="female" { "Girl" }
                        option value="male" { "Boy" }
                    }
                }
                label { "Note (what you saw, clothes, who was with the child)"
                    textarea name="note" maxlength="1000" rows="3" {}
                }
                input #seen-at type="hidden" name="seen_at";
                button #send type="submit" { "Send report" }
            }
        },
    )
}

async fn submit_page(PageCaller(c): PageCaller) -> Result<Response, PageError> {
    c.require(Role::Volunteer)?;
    Ok(render(StatusCode::OK, submit_form(&c, None)))
}

async fn submit_post(
    State(st): State<AppState>,
    caller: Result<Caller, ApiError>,
    req: Request,
) -> Result<Response, PageError> {
    let (c, up) = api::upload_gate(&st, caller, Role::Volunteer, req).await?;
    c.check_csrf(up.text("csrf"))?;
    match api::do_submit(&st, &c, up).await {
        Ok(r) => Ok(render(
            StatusCode::CREATED,
            page(
                "Report received",
                Some(&c),
                html! {
                    h1 { "Report received" }
                    p.receipt { "Receipt " strong #receipt { (r.receipt) } }
                    p { (r.message) }
                    p.hint { "Received " (fmt_time(r.received_at)) ". Keep the receipt number if you want to ask about your report." }
                    p { a.button href="/submit" { "Report another sighting" } }
                },
            ),
        )),
        Err(e) if e.status.is_client_error() => {
            Ok(render(e.status, submit_form(&c, Some(&e.message))))
        }
        Err(e) => Err(e.into()),
    }
}

// ---------- review ----------

fn band_badge(band: &str) -> Markup {
    html! { span class=(format!("band band-{band}")) { (band) } }
}

async fn review_page(
    State(st): State<AppState>,
    PageCaller(c): PageCaller,
) -> Result<Response, PageError> {
    c.require(Role::CaseWorker)?;
    let items = blocking(|| st.service.review_queue(&c.actor(), false))?;
    Ok(render(
        StatusCode::OK,
        page(
            "Review queue",
            Some(&c),
            html! {
                h1 { "Review queue" }
                p.hint { "Candidates are ranked for a person to review. The scores are not a verdict." }
                @if items.is_empty() { p #queue-empty { "Nothing waiting for review." } }
                ul.queue #queue {
                    @for i in &items {
                        li.queue-item data-match=(i.match_id) {
                            img.thumb src=(format!("/api/sightings/{}/photo", i.sighting_id)) alt=(format!("Sighting {}", i.sighting_id));
                            div {
                                a href=(format!("/review/{}", i.match_id)) { "Sighting " (i.sighting_id) " → case " (i.case_id) ": " (i.child_name) }
                                " " (band_badge(i.band))
                                div.why { (i.why) }
                            }
                        }
                    }
                }
            },
        ),
    ))
}

fn sighting_facts(s: &SightingView) -> Markup {
    html! {
        dl.facts {
            dt { "Received" } dd { (fmt_time(s.added_at)) }
            @if let Some(t) = &s.seen_at { dt { "Seen at" } dd { (t) } }
            @if let Some(p) = &s.place { dt { "Place" } dd { (p) } }
            @if let Some([a, b]) = s.location { dt { "Location" } dd { (format!("{a:.5}, {b:.5}")) } }
            @if let Some([a, b]) = s.apparent_age { dt { "Apparent age" } dd { (a) "–" (b) } }
            @if let Some(x) = &s.sex { dt { "Apparent sex" } dd { (x) } }
            @if let Some(n) = &s.note { dt { "Note" } dd { (n) } }
            dt { "Faces found" } dd { (s.faces) }
        }
    }
}

fn candidate_gallery(photos: &[CandidatePhoto]) -> Markup {
    html! {
        div.gallery {
            @for p in photos {
                figure {
                    img src=(p.url) alt=(format!("Case photo {}", p.photo_id));
                    figcaption { (age_label(p.age_months)) " · distance " (format!("{:.3}", p.distance)) }
                }
            }
        }
    }
}

async fn review_item_page(
    State(st): State<AppState>,
    PageCaller(c): PageCaller,
    Path(id): Path<u64>,
) -> Result<Response, PageError> {
    c.require(Role::CaseWorker)?;
    let v = blocking(|| st.service.review_item(&c.actor(), id))?;
    Ok(render(
        StatusCode::OK,
        page(
            "Review",
            Some(&c),
            html! {
                h1 { "Sighting " (v.sighting.id) " beside case " (v.case.id) }
                p { (band_badge(v.band)) " " span.why #why { (v.why) } }
                div.side-by-side {
                    section.sighting {
                        h2 { "Sighting" }
                        img.main src=(v.sighting.photo_url) alt="Sighting photo";
                        (sighting_facts(&v.sighting))
                    }
                    section.case {
                        h2 { a href=(format!("/cases/{}", v.case.id)) { (v.case.child_name) } }
                        p.hint { "Missing since " (v.case.missing_date.as_deref().unwrap_or("unknown")) " from " (v.case.missing_place) " · " (v.case.sex) @if let Some(y) = v.case.birth_year { " · born " (y) } }
                        (candidate_gallery(&v.candidate_photos))
                    }
                }
                @if v.state == "pending" {
                    form.stack #decide method="post" action=(format!("/review/{id}")) {
                        input type="hidden" name="csrf" value=(c.csrf());
                        label { "Note for the record" textarea name="note" rows="2" maxlength="2000" {} }
                        div.buttons {
                            button.confirm type="submit" name="decision" value="confirm" { "Confirm: same child" }
                            button.reject type="submit" name="decision" value="reject" { "Reject: not the same child" }
                        }
                    }
                } @else {
                    p #decision.decided { "Decision: " strong { (v.state) }
                        @if let Some(r) = &v.reviewer { " by " (r) }
                        @if let Some(t) = v.decided_at { ", " (fmt_time(t)) }
                        @if let Some(n) = &v.note { ". Note: " (n) }
                    }
                    p { a href="/review" { "Back to the queue" } }
                }
            },
        ),
    ))
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
        other => {
            return Err(ApiError::bad_request(format!(
                "decision must be confirm or reject, got `{other}`"
            ))
            .into())
        }
    };
    api::do_decide(&st, &c, id, state, Some(&f.note))?;
    Ok(see_other(&format!("/review/{id}")))
}

// ---------- cases ----------

async fn cases_page(
    State(st): State<AppState>,
    PageCaller(c): PageCaller,
) -> Result<Response, PageError> {
    c.require(Role::CaseWorker)?;
    let cases = blocking(|| st.service.list_cases(&c.actor()))?;
    Ok(render(
        StatusCode::OK,
        page(
            "Cases",
            Some(&c),
            html! {
                h1 { "Cases" }
                table.list {
                    thead { tr { th { "#" } th { "Name" } th { "Missing since" } th { "From" } th { "Status" } th { "Photos" } th { "Pending" } } }
                    tbody {
                        @for k in &cases {
                            tr {
                                td { (k.id) }
                                td { a href=(format!("/cases/{}", k.id)) { (k.child_name) } }
                                td { (k.missing_date.as_deref().unwrap_or("")) }
                                td { (k.missing_place) }
                                td { (k.status) }
                                td { (k.photos) }
                                td { (k.pending_matches) }
                            }
                        }
                    }
                }
                h2 { "New case" }
                form.stack method="post" action="/cases" {
                    input type="hidden" name="csrf" value=(c.csrf());
                    label { "Child's name" input name="child_name" required maxlength="200"; }
                    label { "Sex" select name="sex" { option value="unknown" { "Unknown" } option value="female" { "Female" } option value="male" { "Male" } } }
                    label { "Birth date" input type="date" name="birth_date"; }
                    label { "Missing since" input type="date" name="missing_date"; }
                    label { "Missing from (place)" input name="missing_place" maxlength="200"; }
                    label { "Notes" textarea name="notes" rows="2" {} }
                    button type="submit" { "Create case" }
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

fn non_empty(s: String) -> Option<String> {
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

async fn case_page(
    State(st): State<AppState>,
    PageCaller(c): PageCaller,
    Path(id): Path<u64>,
) -> Result<Response, PageError> {
    c.require(Role::CaseWorker)?;
    let v = blocking(|| st.service.get_case(&c.actor(), id))?;
    let mut by_age: BTreeMap<Option<u32>, Vec<&super::service::PhotoView>> = BTreeMap::new();
    for p in &v.photos {
        by_age
            .entry(p.age_months.map(|m| m / 12))
            .or_default()
            .push(p);
    }
    // Known ages first, youngest first; unknown last.
    let mut groups: Vec<_> = by_age.into_iter().collect();
    groups.sort_by_key(|(k, _)| (k.is_none(), *k));
    Ok(render(
        StatusCode::OK,
        page(
            &v.child_name,
            Some(&c),
            html! {
                h1 { (v.child_name) " " span.status { (v.status) } }
                dl.facts {
                    dt { "Case" } dd { (v.id) }
                    dt { "Sex" } dd { (v.sex) }
                    @if let Some(b) = &v.birth_date { dt { "Born" } dd { (b) } } @else if let Some(y) = v.birth_year { dt { "Born" } dd { (y) } }
                    @if let Some(m) = &v.missing_date { dt { "Missing since" } dd { (m) } }
                    dt { "Missing from" } dd { (v.missing_place) }
                    @if let Some(n) = &v.notes { dt { "Notes" } dd { (n) } }
                }
                h2 { "Photos by age" }
                @if groups.is_empty() { p { "No photos yet." } }
                @for (age, photos) in &groups {
                    section.age-group {
                        h3 { @if let Some(a) = age { "Age " (a) } @else { "Age unknown" } }
                        div.gallery {
                            @for p in photos {
                                figure {
                                    img src=(p.url) alt=(format!("Photo {}", p.id));
                                    figcaption { (age_label(p.age_months)) @if let Some(d) = &p.taken_date { " · " (d) } @if let Some(s) = &p.source { " · " (s) } }
                                }
                            }
                        }
                    }
                }
                h2 { "Add a photo" }
                form.stack method="post" action=(format!("/cases/{id}/photos")) enctype="multipart/form-data" {
                    input type="hidden" name="csrf" value=(c.csrf());
                    label { "Photo" input type="file" name="photo" accept="image/*" required; }
                    label { "Age in the photo (years)" input type="number" name="age_years" min="0" max="25" step="0.5"; }
                    label { "Taken on" input type="date" name="taken_date"; }
                    label { "Source" input name="source" maxlength="200"; }
                    button type="submit" { "Add photo" }
                }
            },
        ),
    ))
}

async fn case_photo_post(
    State(st): State<AppState>,
    caller: Result<Caller, ApiError>,
    Path(id): Path<u64>,
    req: Request,
) -> Result<Response, PageError> {
    let (c, up) = api::upload_gate(&st, caller, Role::CaseWorker, req).await?;
    c.check_csrf(up.text("csrf"))?;
    api::do_add_photo(&st, &c, id, up).await?;
    Ok(see_other(&format!("/cases/{id}")))
}

// ---------- admin ----------

async fn admin_page(
    State(st): State<AppState>,
    PageCaller(c): PageCaller,
) -> Result<Response, PageError> {
    admin_view(&st, &c, None)
}

/// The admin page; `new_token` is shown once, right after it was created.
fn admin_view(st: &AppState, c: &Caller, new_token: Option<&str>) -> Result<Response, PageError> {
    c.require(Role::Admin)?;
    let users = blocking(|| st.auth.users())?;
    let tokens = blocking(|| st.auth.tokens())?;
    blocking(|| st.auth.log(&c.actor(), "admin_page", "users,tokens"))?;
    Ok(render(
        StatusCode::OK,
        page(
            "Admin",
            Some(c),
            html! {
                h1 { "Registry administration" }
                @if let Some(t) = new_token {
                    p.notice role="status" { "New API token (shown once, copy it now): " code #new-token { (t) } }
                }
                h2 { "Users" }
                table.list {
                    thead { tr { th { "#" } th { "Name" } th { "Role" } th { "State" } th {} } }
                    tbody {
                        @for u in &users {
                            tr {
                                td { (u.id) } td { (u.username) } td { (u.role.as_str()) }
                                td { @if u.disabled { "disabled" } @else { "active" } }
                                td {
                                    @if u.id != c.user.id {
                                        form.inline method="post" action=(format!("/admin/users/{}/disabled", u.id)) {
                                            input type="hidden" name="csrf" value=(c.csrf());
                                            input type="hidden" name="disabled" value=(if u.disabled { "false" } else { "true" });
                                            button type="submit" { @if u.disabled { "Enable" } @else { "Disable" } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                form.stack method="post" action="/admin/users" {
                    input type="hidden" name="csrf" value=(c.csrf());
                    label { "User name" input name="username" required maxlength="64"; }
                    label { "Password (at least " (super::auth::MIN_PASSWORD_CHARS) " characters)" input type="password" name="password" required autocomplete="new-password"; }
                    label { "Role" select name="role" { option value="volunteer" { "Volunteer" } option value="caseworker" { "Case worker" } option value="admin" { "Admin" } } }
                    button type="submit" { "Create user" }
                }
                h2 { "API tokens" }
                table.list {
                    thead { tr { th { "#" } th { "User" } th { "Name" } th { "Created" } th { "State" } th {} } }
                    tbody {
                        @for t in &tokens {
                            tr {
                                td { (t.id) } td { (t.username) } td { (t.name) } td { (fmt_time(t.created_at)) }
                                td { @if t.revoked { "revoked" } @else { "active" } }
                                td { @if !t.revoked {
                                    form.inline method="post" action=(format!("/admin/tokens/{}/revoke", t.id)) {
                                        input type="hidden" name="csrf" value=(c.csrf());
                                        button type="submit" { "Revoke" }
                                    }
                                } }
                            }
                        }
                    }
                }
                form.stack method="post" action="/admin/tokens" {
                    input type="hidden" name="csrf" value=(c.csrf());
                    label { "For user" select name="user_id" { @for u in &users { option value=(u.id) { (u.username) } } } }
                    label { "Token name" input name="name" required maxlength="100"; }
                    button type="submit" { "Create token" }
                }
                h2 { "Erase a case" }
                p.hint { "Erasure removes the case, its photos, faces and matches for good; the audit log keeps only that case N was erased." }
                form.stack #erase method="post" action="/admin/cases/0/erase" {
                    input type="hidden" name="csrf" value=(c.csrf());
                    label { "Case number" input #erase-id type="number" name="case_id" min="1" required; }
                    label { "Type ERASE to confirm" input name="confirm" required pattern="ERASE"; }
                    button.reject type="submit" { "Erase case" }
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
    admin_view(&st, &c, Some(&t.token))
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
            "Case erased",
            Some(&c),
            html! { h1 { "Case " (id) " erased" } p { a href="/admin" { "Back" } } },
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_formatted_in_utc() {
        assert_eq!(fmt_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(fmt_time(1_700_000_000), "2023-11-14 22:13 UTC");
    }

    #[test]
    fn pages_escape_text() {
        let m = html! { p { ("<script>alert(1)</script>") } };
        assert!(!m.into_string().contains("<script>"));
    }
}
