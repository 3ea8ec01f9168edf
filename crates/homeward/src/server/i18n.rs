//! The pages' language and time: Simplified Chinese or English text from
//! Fluent files (`locales/*.ftl`, compiled into the binary), the language
//! chosen per request (a `hw_lang` cookie set by the switch, else the
//! browser's `Accept-Language`, else English), and times shown in the
//! organisation's time zone (`HOMEWARD_TIME_ZONE`, default Asia/Shanghai).
//! See `docs/adr-i18n.md`.
//!
//! The JSON API stays English; only pages are translated.

use std::convert::Infallible;
use std::sync::OnceLock;

use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Deserialize;

use super::session::{cookie, set_cookie};
use super::AppState;

/// The cookie the language switch sets; it wins over `Accept-Language`.
pub(super) const LANG_COOKIE: &str = "hw_lang";
/// The environment variable naming the organisation's time zone (IANA name).
pub(super) const TIME_ZONE_ENV: &str = "HOMEWARD_TIME_ZONE";
/// The time zone when `HOMEWARD_TIME_ZONE` is not set.
pub(super) const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

/// A language the pages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lang {
    En,
    ZhCn,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::ZhCn, Lang::En];

    /// The BCP 47 tag, as in `<html lang>` and the cookie.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    /// The language's own name, for the switch.
    pub fn own_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::ZhCn => "中文",
        }
    }

    /// A tag from the cookie or the switch: exactly one of ours.
    pub fn from_tag(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "en" => Some(Lang::En),
            "zh-cn" => Some(Lang::ZhCn),
            _ => None,
        }
    }

    /// The language of a request: the switch's cookie, else the first of
    /// ours in `Accept-Language` by quality, else English.
    pub fn negotiate(headers: &HeaderMap) -> Lang {
        if let Some(l) = cookie(headers, LANG_COOKIE).and_then(Lang::from_tag) {
            return l;
        }
        headers
            .get_all(header::ACCEPT_LANGUAGE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(from_accept_language)
            .unwrap_or(Lang::En)
    }

    fn index(self) -> usize {
        match self {
            Lang::En => 0,
            Lang::ZhCn => 1,
        }
    }
}

/// The preferred language of one `Accept-Language` value, if it names one
/// of ours: any `zh` (Chinese in any script is better served by Simplified
/// Chinese than by English) or any `en`. Ties keep the header's order.
fn from_accept_language(v: &str) -> Option<Lang> {
    let mut best: Option<(f32, usize, Lang)> = None;
    for (i, item) in v.split(',').enumerate() {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if q.is_nan() || q <= 0.0 {
            continue;
        }
        let primary = tag.split('-').next().unwrap_or("");
        let lang = match primary {
            "zh" => Lang::ZhCn,
            "en" => Lang::En,
            _ => continue,
        };
        if best.is_none_or(|(bq, bi, _)| q > bq || (q == bq && i < bi)) {
            best = Some((q, i, lang));
        }
    }
    best.map(|(_, _, l)| l)
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(parts
            .extensions
            .get::<Lang>()
            .copied()
            .unwrap_or_else(|| Lang::negotiate(&parts.headers)))
    }
}

/// What a page being rendered knows about its request without being told:
/// its language and path (for the switch's way back).
#[derive(Debug, Clone)]
struct Current {
    lang: Lang,
    path: String,
}

tokio::task_local! {
    static CURRENT: Current;
}

/// Middleware: decides the request's language once, for handlers (the
/// [`Lang`] extractor) and for error pages rendered far from the handler.
pub(super) async fn scope(mut req: Request, next: Next) -> Response {
    let lang = Lang::negotiate(req.headers());
    req.extensions_mut().insert(lang);
    let current = Current {
        lang,
        path: req.uri().path().to_string(),
    };
    let mut res = CURRENT.scope(current, next.run(req)).await;
    // Pages differ by language: caches must key on these.
    res.headers_mut().append(
        header::VARY,
        HeaderValue::from_static("accept-language, cookie"),
    );
    res
}

/// The language of the request being handled (English outside a request).
pub(super) fn current_lang() -> Lang {
    CURRENT.try_with(|c| c.lang).unwrap_or(Lang::En)
}

/// The path of the request being handled, if it is a page worth returning to.
pub(super) fn current_path() -> Option<String> {
    CURRENT.try_with(|c| c.path.clone()).ok()
}

#[derive(Deserialize)]
pub(super) struct SwitchQuery {
    next: Option<String>,
}

/// `GET /lang/{tag}?next=/path`: sets the language cookie and goes back.
pub(super) async fn switch(
    State(st): State<AppState>,
    Path(tag): Path<String>,
    Query(q): Query<SwitchQuery>,
) -> Response {
    let next = q
        .next
        .filter(|p| safe_local_path(p))
        .unwrap_or_else(|| "/".to_string());
    let mut res = Redirect::to(&next).into_response();
    if let Some(lang) = Lang::from_tag(&tag) {
        let c = set_cookie(
            LANG_COOKIE,
            lang.tag(),
            365 * 24 * 3600,
            st.config.secure_cookies,
        );
        if let Ok(v) = HeaderValue::from_str(&c) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

/// A same-site path to go back to: `/...`, not `//host`, no scheme, no
/// control characters, and not a form target that only takes POST.
fn safe_local_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.starts_with("//")
        && !p.starts_with("/\\")
        && !p.starts_with("/lang/")
        && p.len() <= 200
        && p.bytes().all(|b| b.is_ascii_graphic())
}

/// The switch's link to `lang` returning to the current page.
pub(super) fn switch_href(lang: Lang) -> String {
    let back = current_path()
        .filter(|p| safe_local_path(p) && !p.starts_with("/admin/") && p != "/logout")
        .unwrap_or_else(|| "/".to_string());
    let mut enc = String::with_capacity(back.len());
    for b in back.bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            enc.push(b as char);
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    format!("/lang/{}?next={enc}", lang.tag())
}

// ---------- messages ----------

const SOURCES: [(&str, &str); 2] = [
    ("en", include_str!("../../locales/en.ftl")),
    ("zh-CN", include_str!("../../locales/zh-CN.ftl")),
];

type Bundle = FluentBundle<FluentResource>;

fn bundles() -> &'static [Bundle; 2] {
    static BUNDLES: OnceLock<[Bundle; 2]> = OnceLock::new();
    BUNDLES.get_or_init(|| SOURCES.map(|(tag, src)| bundle(tag, src)))
}

fn bundle(tag: &str, src: &str) -> Bundle {
    // The files are ours and checked by the tests; a broken line is
    // skipped (its id then shows as itself) rather than stopping the server.
    let res = FluentResource::try_new(src.to_string()).unwrap_or_else(|(r, errs)| {
        tracing::error!(
            event = "locale_parse_error",
            lang = tag,
            errors = errs.len()
        );
        r
    });
    let id: unic_langid::LanguageIdentifier = tag.parse().unwrap_or_default();
    let mut b = FluentBundle::new_concurrent(vec![id]);
    // No Unicode isolation marks around arguments: the pages are
    // left-to-right only, and the marks would show in copied text.
    b.set_use_isolating(false);
    if let Err(errs) = b.add_resource(res) {
        tracing::error!(event = "locale_load_error", lang = tag, errors = errs.len());
    }
    b
}

/// An argument to a message.
pub(super) enum Arg<'a> {
    Str(&'a str),
    Num(i64),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(s: &'a str) -> Self {
        Arg::Str(s)
    }
}
impl<'a> From<&'a String> for Arg<'a> {
    fn from(s: &'a String) -> Self {
        Arg::Str(s)
    }
}
impl From<u64> for Arg<'_> {
    fn from(n: u64) -> Self {
        Arg::Num(i64::try_from(n).unwrap_or(i64::MAX))
    }
}
impl From<u32> for Arg<'_> {
    fn from(n: u32) -> Self {
        Arg::Num(i64::from(n))
    }
}
impl From<i64> for Arg<'_> {
    fn from(n: i64) -> Self {
        Arg::Num(n)
    }
}
impl From<usize> for Arg<'_> {
    fn from(n: usize) -> Self {
        Arg::Num(i64::try_from(n).unwrap_or(i64::MAX))
    }
}
impl From<i32> for Arg<'_> {
    fn from(n: i32) -> Self {
        Arg::Num(i64::from(n))
    }
}

/// The message `id` in `lang`, with `args`; the id itself if it is missing.
pub(super) fn tr_args(lang: Lang, id: &str, args: &[(&str, Arg<'_>)]) -> String {
    let b = &bundles()[lang.index()];
    let Some(pattern) = b.get_message(id).and_then(|m| m.value()) else {
        return id.to_string();
    };
    let mut fa = FluentArgs::new();
    for (k, v) in args {
        match v {
            Arg::Str(s) => fa.set(*k, FluentValue::from(*s)),
            Arg::Num(n) => fa.set(*k, FluentValue::from(*n)),
        }
    }
    let mut errors = Vec::new();
    let out = b.format_pattern(pattern, (!args.is_empty()).then_some(&fa), &mut errors);
    out.into_owned()
}

/// The message `id` in `lang`.
pub(super) fn tr(lang: Lang, id: &str) -> String {
    tr_args(lang, id, &[])
}

// ---------- time ----------

/// The organisation's time zone: `HOMEWARD_TIME_ZONE`, default Asia/Shanghai.
///
/// # Errors
/// The variable names no zone of the bundled tz database.
pub(super) fn configured_time_zone() -> Result<(String, TimeZone), String> {
    let name = std::env::var(TIME_ZONE_ENV)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_TIME_ZONE.to_string());
    TimeZone::get(&name)
        .map(|tz| (name.clone(), tz))
        .map_err(|e| format!("{TIME_ZONE_ENV}={name} is not a known time zone ({e}); use an IANA name such as Asia/Shanghai"))
}

/// The zone pages use, read once; the server checks it at startup
/// ([`check_time_zone`]), so the fallback to UTC is never reached in a
/// running server.
pub(super) fn zone() -> &'static (String, TimeZone) {
    static ZONE: OnceLock<(String, TimeZone)> = OnceLock::new();
    ZONE.get_or_init(|| {
        configured_time_zone().unwrap_or_else(|_| ("UTC".to_string(), TimeZone::UTC))
    })
}

/// Startup check of `HOMEWARD_TIME_ZONE`.
pub(super) fn check_time_zone() -> Result<(), String> {
    configured_time_zone().map(|(name, _)| {
        tracing::info!(event = "time_zone", zone = %name, "page times");
    })
}

const MONTHS_EN: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A Unix time written the local way in `tz`: `2026年11月30日 14:05` or
/// `30 Nov 2026 14:05`.
pub(super) fn fmt_time_in(lang: Lang, t: i64, tz: &TimeZone) -> String {
    let Ok(ts) = Timestamp::from_second(t) else {
        return t.to_string();
    };
    let z = ts.to_zoned_datetime(tz.clone());
    let (y, m, d, hh, mm) = (z.year(), z.month(), z.day(), z.hour(), z.minute());
    match lang {
        Lang::ZhCn => format!("{y}年{m}月{d}日 {hh:02}:{mm:02}"),
        Lang::En => {
            let mon = MONTHS_EN[usize::try_from(m - 1).unwrap_or(0).min(11)];
            format!("{d} {mon} {y} {hh:02}:{mm:02}")
        }
    }
}

/// [`fmt_time_in`] in the organisation's zone.
pub(super) fn fmt_time(lang: Lang, t: i64) -> String {
    fmt_time_in(lang, t, &zone().1)
}

/// Now in the organisation's zone, as a `datetime-local` value (`2026-11-30T14:05`).
pub(super) fn now_local_input() -> String {
    Timestamp::now()
        .to_zoned_datetime(zone().1.clone())
        .strftime("%Y-%m-%dT%H:%M")
        .to_string()
}

/// How a "when seen" value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum SeenAtError {
    #[error("`seen_at` must be a date and time such as 2026-11-30T14:05 (read in {zone}), a date, or an RFC 3339 time, got `{got}`")]
    Malformed { got: String, zone: String },
    #[error("`seen_at` is in the future; give the time the child was seen")]
    Future,
}

/// Reads a "when seen" value and returns what is stored: an RFC 3339 time
/// with an offset or `Z` as an instant, a `datetime-local` value
/// (`YYYY-MM-DDTHH:MM[:SS]`) as a wall time in `tz`, both stored in UTC as
/// `YYYY-MM-DDTHH:MM:SSZ`; a plain date `YYYY-MM-DD` is kept as it is
/// (the library checks its day). Times more than 10 minutes after `now`
/// are refused: the library's rule works by the day.
pub(super) fn normalize_seen_at(
    s: &str,
    tz: &TimeZone,
    zone_name: &str,
    now: Timestamp,
) -> Result<String, SeenAtError> {
    let s = s.trim();
    let malformed = || SeenAtError::Malformed {
        got: s.chars().take(64).collect(),
        zone: zone_name.to_string(),
    };
    let ts = if let Ok(ts) = s.parse::<Timestamp>() {
        ts
    } else if let Ok(dt) = s.parse::<jiff::civil::DateTime>() {
        if !s.contains(['T', ' ']) {
            // A date alone: the library's day rules (a real day, not after
            // today) apply to it as given, as for the CLI.
            let d: jiff::civil::Date = s.parse().map_err(|_| malformed())?;
            return Ok(d.to_string());
        }
        dt.to_zoned_datetime(tz.clone())
            .map_err(|_| malformed())?
            .timestamp()
    } else {
        return Err(malformed());
    };
    if ts > now + jiff::SignedDuration::from_mins(10) {
        return Err(SeenAtError::Future);
    }
    Ok(ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn ids(src: &str) -> BTreeSet<String> {
        src.lines()
            .filter(|l| !l.starts_with([' ', '#', '*', '[']) && l.contains(" ="))
            .filter_map(|l| l.split(" =").next())
            .map(|s| s.trim().to_string())
            .collect()
    }

    #[test]
    fn both_languages_have_the_same_messages_and_parse() {
        let en = ids(SOURCES[0].1);
        let zh = ids(SOURCES[1].1);
        assert!(en.len() > 100, "{}", en.len());
        assert_eq!(
            en.symmetric_difference(&zh).collect::<Vec<_>>(),
            Vec::<&String>::new()
        );
        for (tag, src) in SOURCES {
            assert!(
                FluentResource::try_new(src.to_string()).is_ok(),
                "{tag}.ftl has syntax errors"
            );
        }
        for id in &en {
            for lang in Lang::ALL {
                let t = tr_args(
                    lang,
                    id,
                    &[
                        ("secs", 3u32.into()),
                        ("faces", 2u32.into()),
                        ("zone", "Asia/Shanghai".into()),
                    ],
                );
                assert_ne!(&t, id, "{id} missing in {}", lang.tag());
            }
        }
    }

    #[test]
    fn messages_take_arguments_and_plurals() {
        assert_eq!(
            tr_args(Lang::ZhCn, "err-rate_limited", &[("secs", 5u32.into())]),
            "请求过于频繁，请等待 5 秒后重试。"
        );
        assert_eq!(
            tr_args(Lang::En, "receipt-faces", &[("faces", 1u32.into())]),
            "One face was found in the photo."
        );
        assert_eq!(
            tr_args(Lang::En, "receipt-faces", &[("faces", 2u32.into())]),
            "2 faces were found in the photo."
        );
        assert_eq!(tr(Lang::En, "no-such-message"), "no-such-message");
    }

    #[test]
    fn accept_language_picks_by_quality() {
        let pick = |v: &str| from_accept_language(v);
        assert_eq!(pick("zh-CN,zh;q=0.9,en;q=0.8"), Some(Lang::ZhCn));
        assert_eq!(pick("en-US,en;q=0.9,zh-CN;q=0.8"), Some(Lang::En));
        assert_eq!(pick("fr-FR, zh-TW;q=0.5, en;q=0.4"), Some(Lang::ZhCn));
        assert_eq!(pick("en;q=0.2, zh;q=0.7"), Some(Lang::ZhCn));
        assert_eq!(pick("zh;q=0, en"), Some(Lang::En));
        assert_eq!(pick("de, fr"), None);
        assert_eq!(pick(""), None);
    }

    #[test]
    fn the_cookie_wins_over_the_browser() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, "zh-CN".parse().unwrap());
        assert_eq!(Lang::negotiate(&h), Lang::ZhCn);
        h.insert(header::COOKIE, "a=b; hw_lang=en".parse().unwrap());
        assert_eq!(Lang::negotiate(&h), Lang::En);
        h.insert(header::COOKIE, "hw_lang=xx".parse().unwrap());
        assert_eq!(Lang::negotiate(&h), Lang::ZhCn);
        assert_eq!(Lang::negotiate(&HeaderMap::new()), Lang::En);
    }

    #[test]
    fn only_local_paths_are_returned_to() {
        assert!(safe_local_path("/submit"));
        assert!(safe_local_path("/review/12"));
        assert!(!safe_local_path("//evil.example"));
        assert!(!safe_local_path("/\\evil.example"));
        assert!(!safe_local_path("https://evil.example"));
        assert!(!safe_local_path("/a b"));
        assert!(!safe_local_path("/lang/en"));
    }

    #[test]
    fn times_are_written_the_local_way() {
        let sh = TimeZone::get("Asia/Shanghai").unwrap();
        // 2026-11-30 06:05 UTC is 14:05 in Shanghai.
        let t = 1_796_018_700;
        assert_eq!(fmt_time_in(Lang::ZhCn, t, &sh), "2026年11月30日 14:05");
        assert_eq!(fmt_time_in(Lang::En, t, &sh), "30 Nov 2026 14:05");
        assert_eq!(
            fmt_time_in(Lang::En, t, &TimeZone::UTC),
            "30 Nov 2026 06:05"
        );
        let ny = TimeZone::get("America/New_York").unwrap();
        assert_eq!(fmt_time_in(Lang::En, t, &ny), "30 Nov 2026 01:05");
    }

    #[test]
    fn seen_at_is_read_in_the_organisations_zone() {
        let sh = TimeZone::get("Asia/Shanghai").unwrap();
        let now: Timestamp = "2026-11-30T08:00:00Z".parse().unwrap();
        let n = |s: &str| normalize_seen_at(s, &sh, "Asia/Shanghai", now);
        assert_eq!(n("2026-11-30T14:05").unwrap(), "2026-11-30T06:05:00Z");
        assert_eq!(n("2026-11-30T14:05:30").unwrap(), "2026-11-30T06:05:30Z");
        // Early morning in Shanghai is the day before in UTC.
        assert_eq!(n("2026-11-30T07:30").unwrap(), "2026-11-29T23:30:00Z");
        assert_eq!(n("2026-11-30T06:05:00Z").unwrap(), "2026-11-30T06:05:00Z");
        assert_eq!(
            n("2026-11-30T14:05:00+08:00").unwrap(),
            "2026-11-30T06:05:00Z"
        );
        assert_eq!(n("2026-11-29").unwrap(), "2026-11-29");
        assert_eq!(n("2026-11-30T17:00"), Err(SeenAtError::Future));
        // A date is the library's to judge ("after today").
        assert_eq!(n("2026-12-01").unwrap(), "2026-12-01");
        assert!(matches!(n("yesterday"), Err(SeenAtError::Malformed { .. })));
        assert!(matches!(
            n("2026-13-01T10:00"),
            Err(SeenAtError::Malformed { .. })
        ));
    }
}
