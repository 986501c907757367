//! Chaos Toolkit in the pages: import an experiment as a scenario (upload or paste), export an
//! agreed scenario as an experiment, and bring a run's journal onto the timeline.

use axum::Router;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_sessions::Session;

use super::actions::{self, JournalImport, Origin};
use super::pages::import_page;
use super::{experiment, journal};
use crate::error::AppResult;
use crate::form::FieldErrors;
use crate::gamedays::actions::require_facilitator;
use crate::state::AppState;
use crate::web::context::{GamedayCtx, ScenarioCtx};
use crate::web::refusal::refused;
use crate::web::{FlashKind, Layout, flash, see_other};

pub fn router() -> Router<AppState> {
    let base = "/teams/{slug}/gamedays/{id}/scenarios";
    Router::new()
        .route(&format!("{base}/import"), get(import_form).post(import))
        .route(&format!("{base}/{{sid}}/experiment.json"), get(export))
        .route(&format!("{base}/{{sid}}/journal"), post(import_journal))
        .layer(DefaultBodyLimit::max(super::UPLOAD_LIMIT_BYTES))
}

/// What an upload form sent: a chosen file (its name and bytes) and what was pasted.
#[derive(Debug, Default)]
struct Upload {
    file_name: Option<String>,
    file: Vec<u8>,
    pasted: String,
}

impl Upload {
    /// The document to read: the file if one was chosen, else what was pasted; `what` names it
    /// in the messages ("experiment", "journal").
    fn document(&self, what: &str, max: usize) -> Result<(Vec<u8>, Option<&str>), String> {
        let (bytes, name) = if self.file.is_empty() {
            (self.pasted.trim().as_bytes().to_vec(), None)
        } else {
            (self.file.clone(), self.file_name.as_deref())
        };
        if bytes.is_empty() {
            return Err(format!("Choose the {what} file, or paste it."));
        }
        if bytes.len() > max {
            return Err(format!(
                "The {what} is {} KiB; the largest accepted is {} KiB.",
                bytes.len().div_ceil(1024),
                max / 1024
            ));
        }
        Ok((bytes, name))
    }
}

/// Reads the form: the file field `file` and the text field `text_field`.
async fn read_upload(multipart: Result<Multipart, MultipartRejection>, text_field: &str) -> Result<Upload, String> {
    let unreadable = |_| "The form could not be read; choose the file again.".to_owned();
    let mut multipart = multipart.map_err(|_| "Send the form as the page does (a file upload).".to_owned())?;
    let mut upload = Upload::default();
    while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
        match field.name() {
            Some("file") => {
                upload.file_name = field.file_name().filter(|n| !n.is_empty()).map(str::to_owned);
                upload.file = field.bytes().await.map_err(unreadable)?.to_vec();
            }
            Some(name) if name == text_field => upload.pasted = field.text().await.map_err(unreadable)?,
            _ => {}
        }
    }
    Ok(upload)
}

async fn import_form(layout: Layout, ctx: GamedayCtx) -> AppResult<Response> {
    require_facilitator(ctx.role)?;
    crate::gamedays::edit_plan(ctx.gameday.status)?;
    import_page(layout, ctx, String::new(), None)
}

async fn import(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ctx: GamedayCtx,
    multipart: Result<Multipart, MultipartRejection>,
) -> AppResult<Response> {
    require_facilitator(ctx.role)?;
    let upload = match read_upload(multipart, "experiment").await {
        Ok(upload) => upload,
        Err(message) => {
            return import_page(layout, ctx, String::new(), Some((StatusCode::UNPROCESSABLE_ENTITY, message)));
        }
    };
    let refuse = |message: String| Some((StatusCode::UNPROCESSABLE_ENTITY, message));
    let (bytes, name) = match upload.document("experiment", experiment::MAX_BYTES) {
        Ok(document) => document,
        Err(message) => return import_page(layout, ctx, upload.pasted, refuse(message)),
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return import_page(
            layout,
            ctx,
            upload.pasted,
            refuse("The file is not UTF-8 text: export it as JSON or YAML.".into()),
        );
    };
    let origin = name.map_or(Origin::Pasted, Origin::File);
    let sid = match actions::import_experiment(
        &state.db,
        &state.config.health_check_allow,
        (ctx.gameday.id, &ctx.user),
        &text,
        origin,
    )
    .await
    {
        Ok(sid) => sid,
        Err(err) => {
            let mut errors = FieldErrors::new();
            let status = refused(err, &mut errors)?;
            let message = errors.messages().join(" ");
            return import_page(layout, ctx, upload.pasted, Some((status, message)));
        }
    };
    flash(
        &session,
        FlashKind::Success,
        "Imported as a scenario at revision 1. Edit it to set what the experiment does not say (target, blast radius, expected impact, abort criteria and owner); then everyone signs it.",
    )
    .await?;
    Ok(see_other(&format!("{}/scenarios/{sid}", ctx.url())))
}

/// The agreed current revision as a Chaos Toolkit experiment, to download.
async fn export(State(state): State<AppState>, ScenarioCtx { day: ctx, scenario }: ScenarioCtx) -> AppResult<Response> {
    let api_url = format!("{}{}", state.config.base_url(), crate::web::api::API_BASE);
    let team = &ctx.membership.team.slug;
    let exported = actions::export_agreed(&state.db, &ctx.gameday, team, scenario.id, &api_url).await?;
    let body = serde_json::to_string_pretty(&exported.document).unwrap_or_default() + "\n";
    let mut response = ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", exported.file_name)) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

async fn import_journal(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ScenarioCtx { day: ctx, scenario }: ScenarioCtx,
    multipart: Result<Multipart, MultipartRejection>,
) -> AppResult<Response> {
    require_facilitator(ctx.role)?;
    let url = format!("{}/scenarios/{}", ctx.url(), scenario.id);
    let upload = read_upload(multipart, "journal").await;
    let document = upload.as_ref().map_err(Clone::clone).and_then(|u| u.document("journal", journal::MAX_BYTES));
    let result = match document {
        Ok((bytes, _)) => actions::import_journal(&state.db, ctx.gameday.id, scenario.id, &ctx.user, &bytes).await,
        Err(message) => Err(crate::error::AppError::invalid("journal", message)),
    };
    let message = match result {
        Ok(JournalImport::Imported { entries, proposal, .. }) => format!(
            "Journal imported: {entries} entries are on the timeline. It proposes the outcome “{}”; confirm it when you conclude.",
            proposal.as_str()
        ),
        Ok(JournalImport::AlreadyImported) => "This journal is already on the timeline: nothing was added.".to_owned(),
        Err(err) => {
            let mut errors = FieldErrors::new();
            let status = refused(err, &mut errors)?;
            let pasted = upload.map(|u| u.pasted).unwrap_or_default();
            return crate::scenarios::pages::journal_refused(&state, (layout, ctx), scenario, (status, errors), pasted)
                .await;
        }
    };
    flash(&session, FlashKind::Success, message).await?;
    Ok(see_other(&format!("{url}#chaostoolkit")))
}
