//! The retrospective page of a completed game day and every form on it: the text, review and
//! publication, comments and addenda, "read", the learnings and the actions; and its Markdown
//! export.

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use time::OffsetDateTime;
use tower_sessions::Session;
use uuid::Uuid;

use super::actions::{self, NoteKind, RetroText};
use super::store::{self, Note, Retro};
use super::views::{ScenarioStory, stories};
use super::{RetroForm, RetroStatus};
use crate::error::{AppError, AppResult};
use crate::form::FieldErrors;
use crate::gamedays::{Refusal, multiline};
use crate::learnings::store::{self as learning_store, ActionItem, Learning};
use crate::learnings::{self, ActionForm, LearningForm, Record, check_can_record};
use crate::scenarios::Signoffs;
use crate::scenarios::store as scenario_store;
use crate::state::AppState;
use crate::timeline::views::views_for;
use crate::web::context::GamedayCtx;
use crate::web::refusal::refused;
use crate::web::{FlashKind, Layout, flash, render_status, see_other};

pub fn router() -> Router<AppState> {
    let base = "/teams/{slug}/gamedays/{id}/retrospective";
    Router::new()
        .route(base, get(page).post(save))
        .route(&format!("{base}/submit"), post(submit))
        .route(&format!("{base}/publish"), post(publish))
        .route(&format!("{base}/notes"), post(add_note))
        .route(&format!("{base}/read"), post(mark_read))
        .route("/teams/{slug}/gamedays/{id}/learnings", post(add_learning))
        .route("/teams/{slug}/gamedays/{id}/actions", post(add_action))
        .route("/teams/{slug}/gamedays/{id}/retrospective.md", get(export_markdown))
}

/// Only a game day that has a retrospective (a completed one); 404 for anything else.
fn completed(ctx: GamedayCtx) -> AppResult<GamedayCtx> {
    super::open(ctx.gameday.status).map_err(|_| AppError::NotFound)?;
    Ok(ctx)
}

/// The retrospective as a Markdown file to download, its times in the downloader's zone.
async fn export_markdown(State(state): State<AppState>, ctx: GamedayCtx) -> AppResult<Response> {
    let ctx = completed(ctx)?;
    let id = ctx.gameday.id;
    let retro = store::get_or_create(&state.db, id).await?;
    let participants = crate::gamedays::store::participants(&state.db, id).await?;
    let scenarios = scenario_store::scenarios_of(&state.db, id).await?;
    let events = crate::timeline::store::events(&state.db, id).await?;
    let impacts = store::observed_impacts(&state.db, id).await?;
    let mut signoffs = scenario_store::signoffs::signoffs_of_gameday(&state.db, id).await?;
    let stories: Vec<_> = stories(scenarios, &events, &impacts, None)
        .into_iter()
        .map(|story| {
            let signed =
                signoffs.remove(&story.scenario.id).unwrap_or_else(|| Signoffs::unsigned(story.scenario.revision));
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
        zone: &ctx.user.time_zone,
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
    pub learning: LearningForm,
    pub action: ActionForm,
    pub comment: String,
}

#[derive(Template)]
#[template(path = "retros/page.html")]
struct RetroPage {
    layout: Layout,
    ctx: GamedayCtx,
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
    /// Whether the viewer writes in this team (not a team viewer): see [`super::check_writer`].
    fn writes(&self) -> bool {
        super::check_writer(self.ctx.membership.role).is_ok()
    }

    fn can_edit(&self) -> bool {
        self.writes() && super::edit(self.retro.status, self.ctx.role).is_ok()
    }

    fn can_submit(&self) -> bool {
        self.writes() && super::submit(self.retro.status, self.ctx.role).is_ok()
    }

    fn can_publish(&self) -> bool {
        self.writes() && super::publish(self.retro.status, self.ctx.role).is_ok()
    }

    fn can_add_addendum(&self) -> bool {
        self.writes() && super::addendum(self.retro.status, self.ctx.role).is_ok()
    }

    /// Whether the viewer may comment now, or why not.
    fn comment_rule(&self) -> Result<(), Refusal> {
        super::comment(self.retro.status, self.ctx.role)
    }

    fn can_comment(&self) -> bool {
        self.comment_rule().is_ok()
    }

    /// Whether the viewer may add a learning or an action now (not once it is published).
    fn can_record(&self, what: Record) -> bool {
        self.writes() && check_can_record(what, self.ctx.gameday.status, self.ctx.role, self.retro.status).is_ok()
    }

    fn read_by_me(&self) -> bool {
        self.readers.iter().any(|(id, _, _)| *id == self.me)
    }

    fn published(&self) -> bool {
        self.retro.status == RetroStatus::Published
    }
}

/// Renders the retrospective page; `drafts` keeps what was typed into a refused form, `errors`
/// says which field was refused and `alert` shows a refusal of the whole change at the top.
async fn retro_page(
    state: &AppState,
    layout: Layout,
    ctx: GamedayCtx,
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
    let base = ctx.url();
    let all_views = views_for(&events, &base, layout.zone(), ctx.user.id, ctx.role);
    let stories = stories(scenarios, &events, &impacts, Some((&all_views, &base)));
    let notes = store::notes(&state.db, id).await?;
    let readers = store::readers(&state.db, id).await?;
    let learnings = learning_store::of_gameday(&state.db, id).await?;
    let actions = learning_store::actions_of_gameday(&state.db, id).await?;
    let members = learning_store::team_members(&state.db, ctx.membership.team.id).await?;
    let upcoming = crate::gamedays::store::open_gamedays(&state.db, ctx.membership.team.id).await?;
    let me = ctx.user.id;
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

async fn page(State(state): State<AppState>, layout: Layout, ctx: GamedayCtx) -> AppResult<Response> {
    let ctx = completed(ctx)?;
    retro_page(&state, layout, ctx, Drafts::default(), FieldErrors::new(), StatusCode::OK, None).await
}

/// After a change: on success flash `done` and go back to the page; on a refusal re-render the
/// page with the reason at the top (409 or 422), keeping what was typed.
async fn finish(
    state: &AppState,
    (layout, session): (Layout, &Session),
    ctx: GamedayCtx,
    result: AppResult<()>,
    done: &str,
    drafts: Drafts,
) -> AppResult<Response> {
    let err = match result {
        Ok(()) => {
            flash(session, FlashKind::Success, done).await?;
            return Ok(see_other(&format!("{}/retrospective", ctx.url())));
        }
        Err(err) => err,
    };
    let mut errors = FieldErrors::new();
    let status = refused(err, &mut errors)?;
    let alert = Some(errors.messages().join(" "));
    retro_page(state, layout, ctx, drafts, FieldErrors::new(), status, alert).await
}

/// The retrospective's form as posted: the text and each scenario's observed impact
/// (`observed_<scenario id>` fields, read by hand for those dynamic names). None when the body
/// holds no text (a "Send to review" or "Publish" posted on its own).
fn read_text(body: &str) -> Option<(RetroForm, Vec<(Uuid, String)>)> {
    let mut form = RetroForm::default();
    let mut observed: Vec<(Uuid, String)> = Vec::new();
    let mut present = false;
    for (key, value) in form_urlencoded::parse(body.as_bytes()) {
        match key.as_ref() {
            "summary" => form.summary = value.into_owned(),
            "went_well" => form.went_well = value.into_owned(),
            "surprised_us" => form.surprised_us = value.into_owned(),
            other => match other.strip_prefix("observed_").and_then(|id| Uuid::parse_str(id).ok()) {
                Some(id) => observed.push((id, value.into_owned())),
                None => continue,
            },
        }
        present = true;
    }
    present.then_some((form, observed))
}

/// Saves the text, or sends the retrospective on (`to`) with what its form holds saved first,
/// so that nothing typed is lost. Bad input comes back beside its field, kept.
async fn write(
    state: &AppState,
    (layout, session): (Layout, &Session),
    ctx: GamedayCtx,
    body: &str,
    to: Option<RetroStatus>,
) -> AppResult<Response> {
    let ctx = completed(ctx)?;
    let done = match to {
        None => "Retrospective saved.",
        Some(RetroStatus::InReview) => "Sent to review: participants can comment now.",
        Some(_) => "Published. The team can read it now.",
    };
    let (form, observed) = match (read_text(body), to) {
        (Some(text), _) => text,
        (None, None) => (RetroForm::default(), Vec::new()),
        (None, Some(to)) => {
            let result = actions::transition(&state.db, ctx.gameday.id, &ctx.user, to, None).await;
            return finish(state, (layout, session), ctx, result, done, Drafts::default()).await;
        }
    };
    let mut errors = FieldErrors::new();
    let parsed = form.parse(&mut errors);
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
        return retro_page(state, layout, ctx, drafts, errors, status, None).await;
    };
    let text = RetroText { text: &parsed, impacts: &impacts };
    let result = match to {
        None => actions::save(&state.db, ctx.gameday.id, &ctx.user, &text).await,
        Some(to) => actions::transition(&state.db, ctx.gameday.id, &ctx.user, to, Some(&text)).await,
    };
    let drafts = Drafts { retro: Some(form), observed, ..Default::default() };
    finish(state, (layout, session), ctx, result, done, drafts).await
}

async fn save(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ctx: GamedayCtx,
    body: String,
) -> AppResult<Response> {
    write(&state, (layout, &session), ctx, &body, None).await
}

async fn submit(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ctx: GamedayCtx,
    body: String,
) -> AppResult<Response> {
    write(&state, (layout, &session), ctx, &body, Some(RetroStatus::InReview)).await
}

async fn publish(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ctx: GamedayCtx,
    body: String,
) -> AppResult<Response> {
    write(&state, (layout, &session), ctx, &body, Some(RetroStatus::Published)).await
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
    ctx: GamedayCtx,
    Form(form): Form<NoteForm>,
) -> AppResult<Response> {
    let ctx = completed(ctx)?;
    let kind = if form.kind == "addendum" { NoteKind::Addendum } else { NoteKind::Comment };
    let result = match multiline(&form.body, "The text", 1, 4000) {
        Ok(body) => actions::add_note(&state.db, ctx.gameday.id, &ctx.user, kind, &body).await,
        Err(message) => Err(AppError::invalid("body", message)),
    };
    let done = if kind == NoteKind::Addendum { "Addendum added, dated today." } else { "Comment added." };
    let drafts = Drafts { comment: form.body, ..Default::default() };
    finish(&state, (layout, &session), ctx, result, done, drafts).await
}

async fn mark_read(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ctx: GamedayCtx,
) -> AppResult<Response> {
    let ctx = completed(ctx)?;
    let result = actions::mark_read(&state.db, ctx.gameday.id, &ctx.user).await;
    finish(&state, (layout, &session), ctx, result, "Marked as read.", Drafts::default()).await
}

/// Refuses early (before the form is read) what the retrospective does not accept now.
async fn check_record(state: &AppState, ctx: &GamedayCtx, what: Record) -> AppResult<()> {
    super::check_writer(ctx.membership.role)?;
    let retro = store::get_or_create(&state.db, ctx.gameday.id).await?;
    check_can_record(what, ctx.gameday.status, ctx.role, retro.status)
}

async fn add_learning(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ctx: GamedayCtx,
    Form(form): Form<LearningForm>,
) -> AppResult<Response> {
    if let Err(err) = check_record(&state, &ctx, Record::Learning).await {
        let drafts = Drafts { learning: form, ..Default::default() };
        return finish(&state, (layout, &session), ctx, Err(err), "", drafts).await;
    }
    let mut errors = FieldErrors::new();
    let Some(learning) = form.parse(&mut errors).filter(|_| errors.is_empty()) else {
        let drafts = Drafts { learning: form, ..Default::default() };
        return retro_page(&state, layout, ctx, drafts, errors, StatusCode::UNPROCESSABLE_ENTITY, None).await;
    };
    if let Err(err) = learnings::actions::add_learning(&state.db, ctx.gameday.id, &ctx.user, &learning).await {
        let drafts = Drafts { learning: form, ..Default::default() };
        return finish(&state, (layout, &session), ctx, Err(err), "", drafts).await;
    }
    flash(&session, FlashKind::Success, "Learning recorded. The team finds it in its learnings library.").await?;
    Ok(see_other(&format!("{}/retrospective#learnings", ctx.url())))
}

async fn add_action(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ctx: GamedayCtx,
    Form(form): Form<ActionForm>,
) -> AppResult<Response> {
    if let Err(err) = check_record(&state, &ctx, Record::Action).await {
        let drafts = Drafts { action: form, ..Default::default() };
        return finish(&state, (layout, &session), ctx, Err(err), "", drafts).await;
    }
    let team_id = ctx.membership.team.id;
    let members: Vec<Uuid> =
        learning_store::team_members(&state.db, team_id).await?.into_iter().map(|(id, _)| id).collect();
    let open_gamedays: Vec<Uuid> =
        crate::gamedays::store::open_gamedays(&state.db, team_id).await?.into_iter().map(|(id, _)| id).collect();
    let mut errors = FieldErrors::new();
    let Some(action) = form.parse(&members, &open_gamedays, &mut errors).filter(|_| errors.is_empty()) else {
        let drafts = Drafts { action: form, ..Default::default() };
        return retro_page(&state, layout, ctx, drafts, errors, StatusCode::UNPROCESSABLE_ENTITY, None).await;
    };
    if let Err(err) = learnings::actions::add_action(&state.db, ctx.gameday.id, &ctx.user, &action).await {
        let drafts = Drafts { action: form, ..Default::default() };
        return finish(&state, (layout, &session), ctx, Err(err), "", drafts).await;
    }
    flash(&session, FlashKind::Success, "Action added; its owner sees it on their dashboard.").await?;
    Ok(see_other(&format!("{}/retrospective#actions", ctx.url())))
}
