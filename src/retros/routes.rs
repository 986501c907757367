//! The retrospective page of a completed game day, and its changes.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use time::OffsetDateTime;
use tower_sessions::Session;
use uuid::Uuid;

use super::store::{self, Note, Retro};
use super::{RetroForm, RetroStatus};
use crate::accounts::{CurrentUser, User};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::form::FieldErrors;
use crate::gamedays::actions::begin;
use crate::gamedays::routes::{GamedayContext, load};
use crate::gamedays::{GamedayRole, multiline};
use crate::learnings::store::{self as learning_store, ActionItem, Learning};
use crate::scenarios::store::{self as scenario_store, Scenario};
use crate::timeline::timings::{Timings, timings};
use crate::timeline::{EventView, views};
use crate::web::{FlashKind, Layout, flash, render_status, see_other};

pub fn router() -> Router<AppState> {
    let base = "/teams/{slug}/gamedays/{id}/retrospective";
    Router::new()
        .route(base, get(page).post(save))
        .route(&format!("{base}/submit"), post(submit))
        .route(&format!("{base}/publish"), post(publish))
        .route(&format!("{base}/notes"), post(add_note))
        .route(&format!("{base}/read"), post(mark_read))
        .route("/teams/{slug}/gamedays/{id}/retrospective.md", get(export_markdown))
}

/// The retrospective as a Markdown file to download.
async fn export_markdown(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((slug, id)): Path<(String, String)>,
) -> AppResult<Response> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let ctx = load_completed(&state, &slug, &id, &user).await?;
    let id = ctx.gameday.id;
    let retro = store::get_or_create(&state.db, id).await?;
    let participants = crate::gamedays::store::participants(&state.db, id).await?;
    let scenarios = scenario_store::scenarios_of(&state.db, id).await?;
    let events = crate::timeline::store::events(&state.db, id).await?;
    let impacts = store::observed_impacts(&state.db, id).await?;
    let mut signoffs = scenario_store::signoffs_of_gameday(&state.db, id).await?;
    let stories: Vec<(ScenarioStory, crate::scenarios::Signoffs)> = scenarios
        .into_iter()
        .map(|scenario| {
            let observed_impact =
                impacts.iter().find(|(s, _)| *s == scenario.id).map(|(_, t)| t.clone()).unwrap_or_default();
            let signed = signoffs
                .remove(&scenario.id)
                .unwrap_or(crate::scenarios::Signoffs { revision: scenario.revision, signers: Vec::new() });
            let story = ScenarioStory {
                timings: timings(&events, scenario.id),
                observed_impact,
                excerpt: Vec::new(),
                scenario,
            };
            (story, signed)
        })
        .collect();
    let learnings = learning_store::of_gameday(&state.db, id).await?;
    let actions = learning_store::actions_of_gameday(&state.db, id).await?;
    let notes = store::notes(&state.db, id).await?;
    let export = super::export::Export {
        team: &ctx.membership.team.name,
        gameday: &ctx.gameday,
        retro: &retro,
        participants: &participants,
        stories: &stories,
        events: &events,
        learnings: &learnings,
        actions: &actions,
        notes: &notes,
    };
    let body = super::export::markdown(&export);
    Ok((
        [
            (header::CONTENT_TYPE, "text/markdown; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"retrospective.md\"".to_owned()),
        ],
        body,
    )
        .into_response())
}

/// What the person typed into the page's forms, kept when one of them is refused.
#[derive(Debug, Default)]
pub struct Drafts {
    pub retro: Option<RetroForm>,
    pub observed: Vec<(Uuid, String)>,
    pub learning: crate::learnings::LearningForm,
    pub action: crate::learnings::ActionForm,
    pub comment: String,
}

impl Drafts {
    pub fn learning(learning: crate::learnings::LearningForm) -> Self {
        Drafts { learning, ..Default::default() }
    }

    pub fn action(action: crate::learnings::ActionForm) -> Self {
        Drafts { action, ..Default::default() }
    }
}

/// One scenario as the retrospective tells it.
pub struct ScenarioStory {
    pub scenario: Scenario,
    pub timings: Timings,
    pub observed_impact: String,
    pub excerpt: Vec<EventView>,
}

#[derive(Template)]
#[template(path = "retros/page.html")]
struct RetroPage {
    layout: Layout,
    ctx: GamedayContext,
    retro: Retro,
    form: RetroForm,
    drafts: Drafts,
    stories: Vec<ScenarioStory>,
    notes: Vec<Note>,
    readers: Vec<(Uuid, String, OffsetDateTime)>,
    learnings: Vec<Learning>,
    actions: Vec<ActionItem>,
    members: Vec<(Uuid, String)>,
    /// The team's game days still to come, for "re-test in".
    upcoming: Vec<(Uuid, String)>,
    me: Uuid,
    errors: FieldErrors,
    alert: Option<String>,
}

impl RetroPage {
    fn can_edit(&self) -> bool {
        super::edit(self.retro.status, self.ctx.role).is_ok()
    }

    fn can_comment(&self) -> bool {
        super::comment(self.retro.status, self.ctx.role).is_ok()
    }

    fn is_facilitator(&self) -> bool {
        self.ctx.role == Some(GamedayRole::Facilitator)
    }

    fn read_by_me(&self) -> bool {
        self.readers.iter().any(|(id, _, _)| *id == self.me)
    }

    fn published(&self) -> bool {
        self.retro.status == RetroStatus::Published
    }
}

/// Loads a game day that has a retrospective (a completed one); 404 for anything else.
async fn load_completed(state: &AppState, slug: &str, id: &str, user: &User) -> AppResult<GamedayContext> {
    let ctx = load(state, slug, id, user).await?;
    super::open(ctx.gameday.status).map_err(|_| AppError::NotFound)?;
    Ok(ctx)
}

/// Renders the retrospective page; `drafts` keeps what was typed into a refused form.
#[allow(clippy::too_many_arguments)]
pub async fn retro_page(
    state: &AppState,
    layout: Layout,
    ctx: GamedayContext,
    me: Uuid,
    mut drafts: Drafts,
    errors: FieldErrors,
    status: StatusCode,
    alert: Option<String>,
) -> AppResult<Response> {
    let id = ctx.gameday.id;
    let retro = store::get_or_create(&state.db, id).await?;
    let form = drafts.retro.take().unwrap_or_else(|| RetroForm {
        summary: retro.summary.clone(),
        went_well: retro.went_well.clone(),
        surprised_us: retro.surprised_us.clone(),
    });
    let scenarios = scenario_store::scenarios_of(&state.db, id).await?;
    let events = crate::timeline::store::events(&state.db, id).await?;
    let impacts = store::observed_impacts(&state.db, id).await?;
    let all_views = views(&events, &ctx.url(), layout.zone());
    let stories = scenarios
        .into_iter()
        .map(|scenario| {
            let url = format!("{}/scenarios/{}", ctx.url(), scenario.id);
            let excerpt = all_views
                .iter()
                .filter(|v| v.scenario_url.as_deref() == Some(url.as_str()) && (v.fault || v.kind == "observation"))
                .cloned()
                .collect();
            let observed_impact =
                impacts.iter().find(|(s, _)| *s == scenario.id).map(|(_, t)| t.clone()).unwrap_or_default();
            ScenarioStory { timings: timings(&events, scenario.id), observed_impact, excerpt, scenario }
        })
        .collect();
    let notes = store::notes(&state.db, id).await?;
    let readers = store::readers(&state.db, id).await?;
    let learnings = learning_store::of_gameday(&state.db, id).await?;
    let actions = learning_store::actions_of_gameday(&state.db, id).await?;
    let members = learning_store::team_members(&state.db, ctx.membership.team.id).await?;
    let upcoming = crate::gamedays::store::open_gamedays(&state.db, ctx.membership.team.id).await?;
    let page = RetroPage {
        layout,
        ctx,
        retro,
        form,
        drafts,
        stories,
        notes,
        readers,
        learnings,
        actions,
        members,
        upcoming,
        me,
        errors,
        alert,
    };
    render_status(status, &page)
}

async fn page(
    State(state): State<AppState>,
    layout: Layout,
    CurrentUser(user): CurrentUser,
    Path((slug, id)): Path<(String, String)>,
) -> AppResult<Response> {
    let ctx = load_completed(&state, &slug, &id, &user).await?;
    retro_page(&state, layout, ctx, user.id, Drafts::default(), FieldErrors::new(), StatusCode::OK, None).await
}

/// Runs a change; a refusal re-renders the page with the reason.
async fn finish(
    state: &AppState,
    layout: Layout,
    session: &Session,
    ctx: GamedayContext,
    user: &User,
    result: AppResult<()>,
    done: &str,
) -> AppResult<Response> {
    finish_keeping(state, layout, session, ctx, user, result, done, Drafts::default()).await
}

/// Like [`finish`], keeping what was typed when the change is refused.
#[allow(clippy::too_many_arguments)]
async fn finish_keeping(
    state: &AppState,
    layout: Layout,
    session: &Session,
    ctx: GamedayContext,
    user: &User,
    result: AppResult<()>,
    done: &str,
    drafts: Drafts,
) -> AppResult<Response> {
    match result {
        Ok(()) => {
            flash(session, FlashKind::Success, done).await?;
            Ok(see_other(&format!("{}/retrospective", ctx.url())))
        }
        Err(AppError::Conflict(message)) => {
            retro_page(state, layout, ctx, user.id, drafts, FieldErrors::new(), StatusCode::CONFLICT, Some(message))
                .await
        }
        Err(AppError::Validation(message)) => {
            let page = retro_page(
                state,
                layout,
                ctx,
                user.id,
                drafts,
                FieldErrors::new(),
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(message),
            );
            page.await
        }
        Err(err) => Err(err),
    }
}

/// Saves the text (summary, what went well, what surprised us) and each scenario's observed
/// impact (`observed_<scenario id>` fields). The form is read by hand for those dynamic names.
async fn save(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path((slug, id)): Path<(String, String)>,
    body: String,
) -> AppResult<Response> {
    let ctx = load_completed(&state, &slug, &id, &user).await?;
    let mut form = RetroForm::default();
    let mut observed: Vec<(Uuid, String)> = Vec::new();
    for (key, value) in form_urlencoded::parse(body.as_bytes()) {
        match key.as_ref() {
            "summary" => form.summary = value.into_owned(),
            "went_well" => form.went_well = value.into_owned(),
            "surprised_us" => form.surprised_us = value.into_owned(),
            other => {
                if let Some(id) = other.strip_prefix("observed_").and_then(|id| Uuid::parse_str(id).ok()) {
                    observed.push((id, value.into_owned()));
                }
            }
        }
    }
    let mut errors = FieldErrors::new();
    let parsed = form.parse(&mut errors);
    let observed_kept = observed.clone();
    let mut impacts = Vec::new();
    for (scenario, text) in &observed {
        match multiline(text, "The observed impact", 0, 4000) {
            Ok(text) => impacts.push((*scenario, text)),
            Err(message) => errors.add("observed", message),
        }
    }
    let Some(parsed) = parsed.filter(|_| errors.is_empty()) else {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        let drafts = Drafts { retro: Some(form), observed, ..Default::default() };
        return retro_page(&state, layout, ctx, user.id, drafts, errors, status, None).await;
    };
    let result = async {
        let (mut tx, _gameday, role) = begin(&state.db, ctx.gameday.id, &user).await?;
        let retro = store::lock(&mut tx, ctx.gameday.id).await?;
        super::edit(retro.status, role)?;
        store::save(&mut tx, ctx.gameday.id, &parsed).await?;
        for (scenario, text) in &impacts {
            // Only this game day's scenarios.
            if scenario_store::scenario(&mut *tx, ctx.gameday.id, *scenario).await?.is_some() {
                store::set_observed_impact(&mut tx, *scenario, text).await?;
            }
        }
        tx.commit().await?;
        Ok::<(), AppError>(())
    }
    .await;
    match result {
        Err(AppError::Conflict(message)) => {
            let status = StatusCode::CONFLICT;
            let drafts = Drafts { retro: Some(form), observed: observed_kept, ..Default::default() };
            retro_page(&state, layout, ctx, user.id, drafts, FieldErrors::new(), status, Some(message)).await
        }
        other => finish(&state, layout, &session, ctx, &user, other, "Retrospective saved.").await,
    }
}

async fn transition(state: &AppState, user: &User, ctx: &GamedayContext, to: RetroStatus) -> AppResult<()> {
    let (mut tx, _gameday, role) = begin(&state.db, ctx.gameday.id, user).await?;
    let retro = store::lock(&mut tx, ctx.gameday.id).await?;
    match to {
        RetroStatus::InReview => super::submit(retro.status, role)?,
        RetroStatus::Published => super::publish(retro.status, role)?,
        RetroStatus::Draft => return Err(AppError::Conflict("A retrospective does not go back to draft.".into())),
    }
    store::set_status(&mut tx, ctx.gameday.id, to, user.id).await?;
    let (kind, body) = match to {
        RetroStatus::Published => (
            crate::timeline::EventKind::RetrospectivePublished,
            format!("{} published the retrospective.", user.display_name),
        ),
        _ => (
            crate::timeline::EventKind::RetrospectiveInReview,
            format!("{} sent the retrospective to review.", user.display_name),
        ),
    };
    crate::timeline::store::append(&mut tx, crate::timeline::NewEvent::new(ctx.gameday.id, user.id, kind, body))
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn submit(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path((slug, id)): Path<(String, String)>,
) -> AppResult<Response> {
    let ctx = load_completed(&state, &slug, &id, &user).await?;
    let result = transition(&state, &user, &ctx, RetroStatus::InReview).await;
    finish(&state, layout, &session, ctx, &user, result, "Sent to review: participants can comment now.").await
}

async fn publish(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path((slug, id)): Path<(String, String)>,
) -> AppResult<Response> {
    let ctx = load_completed(&state, &slug, &id, &user).await?;
    let result = transition(&state, &user, &ctx, RetroStatus::Published).await;
    finish(&state, layout, &session, ctx, &user, result, "Published. The team can read it now.").await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NoteForm {
    kind: String,
    body: String,
}

async fn add_note(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path((slug, id)): Path<(String, String)>,
    Form(form): Form<NoteForm>,
) -> AppResult<Response> {
    let ctx = load_completed(&state, &slug, &id, &user).await?;
    let result = async {
        let body = multiline(&form.body, "The text", 1, 4000).map_err(AppError::Validation)?;
        let (mut tx, _gameday, role) = begin(&state.db, ctx.gameday.id, &user).await?;
        let retro = store::lock(&mut tx, ctx.gameday.id).await?;
        let kind = match form.kind.as_str() {
            "addendum" => {
                super::addendum(retro.status, role)?;
                "addendum"
            }
            _ => {
                super::comment(retro.status, role)?;
                "comment"
            }
        };
        store::add_note(&mut tx, ctx.gameday.id, kind, user.id, &body).await?;
        tx.commit().await?;
        Ok::<(), AppError>(())
    }
    .await;
    let done = if form.kind == "addendum" { "Addendum added, dated today." } else { "Comment added." };
    let drafts = Drafts { comment: form.body.clone(), ..Default::default() };
    finish_keeping(&state, layout, &session, ctx, &user, result, done, drafts).await
}

async fn mark_read(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path((slug, id)): Path<(String, String)>,
) -> AppResult<Response> {
    let ctx = load_completed(&state, &slug, &id, &user).await?;
    let retro = store::get_or_create(&state.db, ctx.gameday.id).await?;
    let result = match super::mark_read(retro.status) {
        Ok(()) => store::mark_read(&state.db, ctx.gameday.id, user.id).await.map_err(AppError::from),
        Err(refusal) => Err(refusal.into()),
    };
    finish(&state, layout, &session, ctx, &user, result, "Marked as read.").await
}
