//! The batches page for case workers: every batch with its progress, an
//! upload form for an archive (name and photos, staged as `POST
//! /api/batches` stages them), and one batch's progress, refreshed every
//! few seconds while items are queued.

use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::archive::{percent_encode, stage};
use super::auth::Role;
use super::i18n::Lang;
use super::pages::{fmt_time, page, render, see_other, t};
use super::session::{PageCaller, PageError};
use super::{blocking, AppState, Routes};

pub(super) fn routes(r: Routes) -> Routes {
    r.get("/batches", batches_page).add(
        "post",
        "/batches",
        // Streamed to disk within the archive's own limits (archive.rs).
        axum::routing::post(batches_upload).layer(axum::extract::DefaultBodyLimit::disable()),
    )
}

#[derive(Deserialize, Default)]
struct Shown {
    /// The batch whose progress is shown.
    #[serde(default)]
    name: String,
}

async fn batches_page(
    State(st): State<AppState>,
    PageCaller(c): PageCaller,
    l: Lang,
    Query(q): Query<Shown>,
) -> Result<Response, PageError> {
    c.require(Role::CaseWorker)?;
    let list = blocking(|| st.service.list_batches(&c.actor()))?;
    let shown = if q.name.is_empty() {
        None
    } else {
        let queued = blocking(|| st.archive.left(&st.service, &q.name))?;
        let status = list.iter().find(|b| b.name == q.name);
        Some((
            q.name.clone(),
            queued,
            status.map_or((0, 0, 0), |b| (b.items, b.recorded, b.failed)),
        ))
    };
    let refresh = shown.as_ref().is_some_and(|(_, queued, _)| *queued > 0);
    Ok(render(
        StatusCode::OK,
        page(
            l,
            &t(l, "batches-title"),
            Some(&c),
            html! {
                @if refresh { meta http-equiv="refresh" content="3"; }
                h1 { (t(l, "batches-title")) }
                @if let Some((name, queued, (items, recorded, failed))) = &shown {
                    section.progress #batch-progress {
                        h2 { (name) }
                        p {
                            (t(l, "col-items")) ": " (items) " · "
                            (t(l, "col-recorded")) ": " (recorded) " · "
                            (t(l, "col-failed")) ": " (failed) " · "
                            (t(l, "col-queued")) ": " (queued)
                        }
                        p { @if *queued > 0 { (t(l, "batch-running")) } @else { (t(l, "batch-done")) } }
                    }
                }
                h2 { (t(l, "batches-upload")) }
                form.stack method="post" action="/batches" enctype="multipart/form-data" {
                    input type="hidden" name="csrf" value=(c.csrf());
                    label { (t(l, "batch-name")) input name="name" required maxlength="200"; }
                    label { (t(l, "batch-photos")) input type="file" name="photo" multiple accept="image/*" required; }
                    button type="submit" { (t(l, "batch-upload")) }
                }
                h2 { (t(l, "batches-list")) }
                table.list {
                    thead { tr { th { (t(l, "col-batch")) } th { (t(l, "col-items")) } th { (t(l, "col-recorded")) } th { (t(l, "col-failed")) } th { (t(l, "col-pending")) } th { (t(l, "col-last-done")) } } }
                    tbody {
                        @for b in &list {
                            tr {
                                td { a href=(format!("/batches?name={}", percent_encode(&b.name))) { (b.name) } }
                                td { (b.items) }
                                td { (b.recorded) }
                                td { (b.failed) }
                                td { (b.pending_matches) }
                                td { (b.last_done_at.map(|x| fmt_time(l, x)).unwrap_or_default()) }
                            }
                        }
                    }
                }
            },
        ),
    ))
}

/// The form's upload: staged as the API stages it, then the progress.
async fn batches_upload(
    State(st): State<AppState>,
    PageCaller(c): PageCaller,
    req: Request,
) -> Result<Response, PageError> {
    let accepted = stage(&st, Ok(c), req, true).await?;
    Ok(see_other(&format!(
        "/batches?name={}",
        percent_encode(&accepted.batch)
    )))
}
