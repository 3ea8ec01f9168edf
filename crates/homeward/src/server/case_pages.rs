//! The case pages for case workers: the case with its photos by age, its
//! whole life on a timeline (newest first, with map links for each located
//! sighting), the forms that change its status (with why) and add notes,
//! the CSV download, and a printable page. Volunteers never reach them
//! (every handler requires the case-worker role).

use std::collections::BTreeMap;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use homeward_match::timeline::{map_links, Happening, Timeline};
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;

use super::api;
use super::auth::Role;
use super::i18n::Lang;
use super::pages::{
    age_label, fmt_time, non_empty, page, render, see_other, seen_at_label, status_form, t, ta,
    word, PageForm,
};
use super::service::{CaseView, PhotoView};
use super::session::{Caller, PageCaller, PageError};
use super::{blocking, AppState, Routes};

pub(super) fn routes(r: Routes) -> Routes {
    r.get("/cases/{id}", case_page)
        .get("/cases/{id}/print", case_print)
        .post("/cases/{id}/photos", case_photo_post)
        .post("/cases/{id}/notes", case_note_post)
}

/// A user name as people read it (`web:li` → `li`).
fn who(actor: &str) -> &str {
    actor.strip_prefix("web:").unwrap_or(actor)
}

/// The case's facts.
fn facts(l: Lang, v: &CaseView) -> Markup {
    html! {
        dl.facts {
            dt { (t(l, "case-case")) } dd { (v.id) }
            dt { (t(l, "case-sex")) } dd { (word(l, "sex", v.sex)) }
            @if let Some(b) = &v.birth_date { dt { (t(l, "case-born")) } dd { (b) } } @else if let Some(y) = v.birth_year { dt { (t(l, "case-born")) } dd { (y) } }
            @if let Some(m) = &v.missing_date { dt { (t(l, "case-missing-since")) } dd { (m) } }
            dt { (t(l, "case-missing-from")) } dd { (v.missing_place) }
            @if let Some(n) = &v.notes { dt { (t(l, "case-notes")) } dd { (n) } }
        }
    }
}

/// The photos grouped by age in years: known ages first, youngest first.
fn photos_by_age(l: Lang, photos: &[PhotoView]) -> Markup {
    let mut by_age: BTreeMap<Option<u32>, Vec<&PhotoView>> = BTreeMap::new();
    for p in photos {
        by_age
            .entry(p.age_months.map(|m| m / 12))
            .or_default()
            .push(p);
    }
    let mut groups: Vec<_> = by_age.into_iter().collect();
    groups.sort_by_key(|(k, _)| (k.is_none(), *k));
    html! {
        h2 { (t(l, "case-photos-by-age")) }
        @if groups.is_empty() { p { (t(l, "case-no-photos")) } }
        @for (age, photos) in &groups {
            section.age-group {
                h3 { @if let Some(a) = age { (ta(l, "case-age", &[("age", (*a).into())])) } @else { (t(l, "case-age-unknown")) } }
                div.gallery {
                    @for p in photos {
                        figure {
                            img src=(p.url) alt=(ta(l, "case-photo-alt", &[("id", p.id.into())]));
                            figcaption { (age_label(l, p.age_months)) @if let Some(d) = &p.taken_date { " · " (d) } @if let Some(s) = &p.source { " · " (s) } }
                        }
                    }
                }
            }
        }
    }
}

/// A stable name for an event's kind (`data-kind`, for styles and tests).
fn kind(h: &Happening) -> &'static str {
    match h {
        Happening::Registered => "registered",
        Happening::PhotoAdded { .. } => "photo",
        Happening::Matched { .. } => "matched",
        Happening::Decided { .. } => "decided",
        Happening::Status { .. } => "status",
        Happening::Note { .. } => "note",
    }
}

/// Map links for a located sighting, each opened in a new tab without
/// the opener or a referrer.
fn maps(l: Lang, lat: f64, lon: f64) -> Markup {
    let links = map_links(lat, lon);
    html! {
        @if !links.is_empty() {
            span.maps {
                (t(l, "tl-map"))
                @for (label, url) in &links {
                    " "
                    @let id = match *label { "OpenStreetMap" => "map-osm", "Amap" => "map-amap", _ => "" };
                    a.map-link href=(url) target="_blank" rel="noopener noreferrer" {
                        @if id.is_empty() { (label) } @else { (t(l, id)) }
                    }
                }
            }
        }
    }
}

/// One event in words.
fn happening(l: Lang, h: &Happening) -> Markup {
    let unknown = t(l, "review-unknown");
    match h {
        Happening::Registered => html! { (t(l, "tl-registered")) },
        Happening::PhotoAdded {
            photo_id,
            age_months,
            taken_date,
        } => html! {
            (ta(l, "tl-photo", &[("id", (*photo_id).into())]))
            " · " (age_label(l, *age_months))
            @if let Some(d) = taken_date { " · " (d) }
        },
        Happening::Matched {
            match_id,
            sighting_id,
            band,
            state,
            assignee,
            seen_at,
            place,
            location,
        } => html! {
            a href=(format!("/review/{match_id}")) {
                (ta(l, "tl-matched", &[("sighting", (*sighting_id).into()), ("match", (*match_id).into())]))
            }
            @if let Some(b) = band { " " span class=(format!("band band-{}", b.as_str())) { (word(l, "band", b.as_str())) } }
            " · " (word(l, "state", state.as_str()))
            @if let Some(a) = assignee { " · " (ta(l, "review-assigned-to", &[("who", a.as_str().into())])) }
            @if let Some(x) = seen_at { div.hint { (ta(l, "tl-seen-at", &[("when", seen_at_label(l, x).as_str().into())])) @if let Some(p) = place { " · " (p) } } }
            @else if let Some(p) = place { div.hint { (p) } }
            @if let Some((lat, lon)) = location { div { (maps(l, *lat, *lon)) } }
        },
        Happening::Decided {
            match_id,
            state,
            reviewer,
        } => html! {
            (ta(l, "tl-decided", &[
                ("match", (*match_id).into()),
                ("state", word(l, "state", state.as_str()).as_str().into()),
                ("who", reviewer.as_deref().map(who).unwrap_or(&unknown).into()),
            ]))
        },
        Happening::Status { status, actor, why } => html! {
            (ta(l, "tl-status", &[
                ("status", word(l, "status", status.as_str()).as_str().into()),
                ("who", who(actor).into()),
            ]))
            @if let Some(w) = why { p.why { (t(l, "tl-why")) " " span.text { (w) } } }
        },
        Happening::Note { actor, text } => html! {
            (ta(l, "tl-note", &[("who", who(actor).into())]))
            p.note-text { (text) }
        },
    }
}

/// The case's timeline, newest first.
fn timeline(l: Lang, tl: &Timeline) -> Markup {
    html! {
        section.timeline #timeline {
            h2 { (t(l, "timeline-title")) }
            ol.events {
                @for e in tl.events.iter().rev() {
                    li.event data-kind=(kind(&e.what)) {
                        time.hint { (fmt_time(l, e.at)) }
                        div { (happening(l, &e.what)) }
                    }
                }
            }
        }
    }
}

fn note_form(l: Lang, c: &Caller, id: u64) -> Markup {
    html! {
        h2 { (t(l, "case-note-add")) }
        form.stack #note-form method="post" action=(format!("/cases/{id}/notes")) {
            input type="hidden" name="csrf" value=(c.csrf());
            label { (t(l, "case-note")) textarea name="note" rows="3" maxlength="4000" required {} }
            p.hint { (t(l, "case-note-hint")) }
            button type="submit" { (t(l, "case-note-submit")) }
        }
    }
}

async fn case_page(
    State(st): State<AppState>,
    PageCaller(c): PageCaller,
    l: Lang,
    Path(id): Path<u64>,
) -> Result<Response, PageError> {
    c.require(Role::CaseWorker)?;
    let v = blocking(|| st.service.get_case(&c.actor(), id))?;
    let tl = blocking(|| st.service.case_timeline(&c.actor(), id))?;
    Ok(render(
        StatusCode::OK,
        page(
            l,
            &v.child_name,
            Some(&c),
            html! {
                h1 { (v.child_name) " " span.status { (word(l, "status", v.status)) } }
                (facts(l, &v))
                (status_form(l, &c, v.id, v.status, &format!("/cases/{id}")))
                p.links {
                    a href=(format!("/review?case={id}&state=all")) { (t(l, "case-matches")) }
                    " · " a href=(format!("/audit?case={id}")) { (t(l, "audit-for-case")) }
                    " · " a #case-csv href=(format!("/api/cases/{id}/export.csv")) download { (t(l, "case-export-csv")) }
                    " · " a #case-print href=(format!("/cases/{id}/print")) { (t(l, "case-print")) }
                }
                (timeline(l, &tl))
                (note_form(l, &c, id))
                (photos_by_age(l, &v.photos))
                h2 { (t(l, "case-add-photo")) }
                form.stack method="post" action=(format!("/cases/{id}/photos")) enctype="multipart/form-data" {
                    input type="hidden" name="csrf" value=(c.csrf());
                    label { (t(l, "case-photo")) input type="file" name="photo" accept="image/*" required; }
                    label { (t(l, "case-age-years")) input type="number" name="age_years" min="0" max="25" step="0.5"; }
                    label { (t(l, "case-taken-on")) input type="date" name="taken_date"; }
                    label { (t(l, "case-source")) input name="source" maxlength="200"; }
                    button type="submit" { (t(l, "case-add-photo-submit")) }
                }
            },
        ),
    ))
}

/// The case on paper: details, photos and the timeline; no navigation,
/// no forms (the stylesheet's print rules do the rest).
async fn case_print(
    State(st): State<AppState>,
    PageCaller(c): PageCaller,
    l: Lang,
    Path(id): Path<u64>,
) -> Result<Response, PageError> {
    c.require(Role::CaseWorker)?;
    let v = blocking(|| st.service.get_case(&c.actor(), id))?;
    let tl = blocking(|| st.service.case_timeline(&c.actor(), id))?;
    let now = super::auth::now();
    Ok(render(
        StatusCode::OK,
        html! {
            (DOCTYPE)
            html lang=(l.tag()) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    meta name="referrer" content="no-referrer";
                    title { (v.child_name) " · " (t(l, "brand")) }
                    link rel="stylesheet" href="/static/app.css";
                }
                body.print {
                    main {
                        h1 { (v.child_name) " " span.status { (word(l, "status", v.status)) } }
                        p.hint { (ta(l, "print-made", &[("time", fmt_time(l, now).as_str().into()), ("who", c.user.username.as_str().into())])) }
                        (facts(l, &v))
                        (timeline(l, &tl))
                        (photos_by_age(l, &v.photos))
                    }
                }
            }
        },
    ))
}

#[derive(Deserialize)]
struct NoteForm {
    csrf: String,
    #[serde(default)]
    note: String,
}

async fn case_note_post(
    State(st): State<AppState>,
    PageCaller(c): PageCaller,
    Path(id): Path<u64>,
    PageForm(f): PageForm<NoteForm>,
) -> Result<Response, PageError> {
    c.require(Role::CaseWorker)?;
    c.check_csrf(Some(&f.csrf))?;
    let note = non_empty(f.note).unwrap_or_default();
    blocking(|| st.service.add_case_note(&c.actor(), id, &note))?;
    Ok(see_other(&format!("/cases/{id}#timeline")))
}

async fn case_photo_post(
    State(st): State<AppState>,
    caller: Result<Caller, super::error::ApiError>,
    Path(id): Path<u64>,
    req: Request,
) -> Result<Response, PageError> {
    let (c, up) = api::upload_gate(&st, caller, Role::CaseWorker, req).await?;
    c.check_csrf(up.text("csrf"))?;
    api::do_add_photo(&st, &c, id, up).await?;
    Ok(see_other(&format!("/cases/{id}")))
}
