//! The team's webhook settings: add, remove, send a test delivery, and the delivery log. Leads only.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use tower_sessions::Session;
use uuid::Uuid;

use super::store::{self, LogLine, Webhook};
use super::{KINDS, TestAnswer, kind_label, parse_kinds};
use crate::error::AppResult;
use crate::form::FieldErrors;
use crate::gamedays::parse_link;
use crate::ids::WebhookId;
use crate::state::AppState;
use crate::teams::Membership;
use crate::timeline::EventKind;
use crate::web::context::{LeadCtx, Path};
use crate::web::refusal::refused;
use crate::web::{FlashKind, Layout, flash, render_status, see_other};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/teams/{slug}/webhooks", get(page).post(create))
        .route("/teams/{slug}/webhooks/{id}/delete", post(delete))
        .route("/teams/{slug}/webhooks/{id}/test", post(send_test))
        .route("/teams/{slug}/webhooks/{id}/secret", post(rotate_secret))
}

#[derive(Template)]
#[template(path = "teams/webhooks.html")]
struct WebhooksPage {
    layout: Layout,
    membership: Membership,
    webhooks: Vec<Webhook>,
    log: Vec<LogLine>,
    kinds: [EventKind; 7],
    url: String,
    chosen: Vec<String>,
    errors: FieldErrors,
    /// The answer to a test delivery just sent, and the webhook it went to.
    answer: Option<(Uuid, TestAnswer)>,
    /// A secret just made (a new webhook, or a rotation), shown this once.
    new_secret: Option<NewSecret>,
}

/// A webhook's new signing secret, kept in the session until the page has shown it once.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct NewSecret {
    webhook: Uuid,
    secret: String,
}

const NEW_SECRET_KEY: &str = "webhook_new_secret";

impl WebhooksPage {
    fn is_chosen(&self, kind: &EventKind) -> bool {
        self.chosen.iter().any(|k| k == kind.as_str())
    }

    /// The test answer to show beside this webhook, if one was just sent to it.
    fn answer_for(&self, hook: &Webhook) -> Option<&TestAnswer> {
        self.answer.as_ref().filter(|(id, _)| *id == hook.id).map(|(_, answer)| answer)
    }

    /// The secret to show beside this webhook: only right after it was made.
    fn secret_for(&self, hook: &Webhook) -> Option<&str> {
        self.new_secret.as_ref().filter(|n| n.webhook == hook.id).map(|n| n.secret.as_str())
    }
}

impl Webhook {
    /// What it sends, as people read it: the timeline's labels.
    pub fn kind_labels(&self) -> String {
        self.kinds.iter().map(|k| kind_label(k)).collect::<Vec<_>>().join(", ")
    }
}

/// The add form's input, kept when the page is shown again.
struct AddForm {
    url: String,
    chosen: Vec<String>,
}

impl AddForm {
    fn empty() -> AddForm {
        AddForm { url: String::new(), chosen: KINDS.iter().map(|k| k.as_str().to_owned()).collect() }
    }
}

async fn webhooks_page(
    state: &AppState,
    (layout, session): (Layout, &Session),
    membership: Membership,
    status: StatusCode,
    AddForm { url, chosen }: AddForm,
    errors: FieldErrors,
    answer: Option<(Uuid, TestAnswer)>,
) -> AppResult<Response> {
    let webhooks = store::of_team(&state.db, membership.team.id).await?;
    let log = store::log(&state.db, membership.team.id, 50).await?;
    let new_secret = match session.get::<NewSecret>(NEW_SECRET_KEY).await? {
        Some(_) => session.remove::<NewSecret>(NEW_SECRET_KEY).await?,
        None => None,
    };
    let page =
        WebhooksPage { layout, membership, webhooks, log, kinds: KINDS, url, chosen, errors, answer, new_secret };
    render_status(status, &page)
}

async fn page(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    LeadCtx { user: _, membership }: LeadCtx,
) -> AppResult<Response> {
    webhooks_page(&state, (layout, &session), membership, StatusCode::OK, AddForm::empty(), FieldErrors::new(), None)
        .await
}

/// Reads the form by hand: checkboxes repeat the `kinds` key, which serde_urlencoded cannot.
async fn create(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    LeadCtx { user, membership }: LeadCtx,
    body: String,
) -> AppResult<Response> {
    let mut url = String::new();
    let mut chosen = Vec::new();
    for (key, value) in form_urlencoded::parse(body.as_bytes()) {
        match key.as_ref() {
            "url" => url = value.into_owned(),
            "kinds" => chosen.push(value.into_owned()),
            _ => {}
        }
    }
    let mut errors = FieldErrors::new();
    let link = match parse_link(&url, "The webhook URL") {
        Ok(Some(link)) => Some(link),
        Ok(None) => {
            errors.add("url", "The webhook URL is required.");
            None
        }
        Err(message) => {
            errors.add("url", message);
            None
        }
    };
    let kinds = errors.check("kinds", parse_kinds(&chosen));
    let form = AddForm { url, chosen };
    let (Some(link), Some(kinds)) = (link, kinds) else {
        return webhooks_page(
            &state,
            (layout, &session),
            membership,
            StatusCode::UNPROCESSABLE_ENTITY,
            form,
            errors,
            None,
        )
        .await;
    };
    let (webhook, secret) =
        match super::actions::add(&state.db, &state.config, membership.team.id, &user, &link, &kinds).await {
            Ok(added) => added,
            Err(err) => {
                let status = refused(err, &mut errors)?;
                return webhooks_page(&state, (layout, &session), membership, status, form, errors, None).await;
            }
        };
    session.insert(NEW_SECRET_KEY, NewSecret { webhook, secret }).await?;
    flash(&session, FlashKind::Success, "Webhook added. Copy its signing secret now: it is shown only this once.")
        .await?;
    Ok(see_other(&format!("/teams/{}/webhooks", membership.team.slug)))
}

/// The webhook a change is about (`/teams/{slug}/webhooks/{id}/…`).
#[derive(serde::Deserialize)]
struct WebhookPath {
    id: WebhookId,
}

async fn delete(
    State(state): State<AppState>,
    session: Session,
    LeadCtx { user, membership }: LeadCtx,
    Path(WebhookPath { id }): Path<WebhookPath>,
) -> AppResult<Response> {
    super::actions::remove(&state.db, membership.team.id, &user, id.0).await?;
    flash(&session, FlashKind::Success, "Webhook removed; its pending deliveries are dropped.").await?;
    Ok(see_other(&format!("/teams/{}/webhooks", membership.team.slug)))
}

/// Gives a webhook a new signing secret, shown once on the page it returns to.
async fn rotate_secret(
    State(state): State<AppState>,
    session: Session,
    LeadCtx { user, membership }: LeadCtx,
    Path(WebhookPath { id }): Path<WebhookPath>,
) -> AppResult<Response> {
    let secret = super::actions::rotate_secret(&state.db, membership.team.id, &user, id.0).await?;
    session.insert(NEW_SECRET_KEY, NewSecret { webhook: id.0, secret }).await?;
    flash(
        &session,
        FlashKind::Success,
        "New signing secret made; the old one no longer signs. Copy it now: it is shown only this once.",
    )
    .await?;
    Ok(see_other(&format!("/teams/{}/webhooks", membership.team.slug)))
}

/// Sends a test delivery now and shows the page with the receiver's answer beside the webhook.
async fn send_test(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    LeadCtx { user, membership }: LeadCtx,
    Path(WebhookPath { id }): Path<WebhookPath>,
) -> AppResult<Response> {
    let answer = super::actions::send_test(&state.db, &state.config, &membership.team, &user, id.0).await?;
    let answer = Some((id.0, answer));
    webhooks_page(&state, (layout, &session), membership, StatusCode::OK, AddForm::empty(), FieldErrors::new(), answer)
        .await
}

impl LogLine {
    /// What was delivered, as people read it.
    pub fn kind_label(&self) -> &str {
        kind_label(&self.kind)
    }
}
