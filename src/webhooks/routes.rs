//! The team's webhook settings: add, remove, and the delivery log. Leads only.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use tower_sessions::Session;

use super::store::{self, LogLine, Webhook};
use super::{KINDS, parse_kinds};
use crate::error::AppResult;
use crate::form::FieldErrors;
use crate::gamedays::parse_link;
use crate::ids::WebhookId;
use crate::state::AppState;
use crate::teams::Membership;
use crate::timeline::EventKind;
use crate::web::context::{LeadCtx, Path};
use crate::web::{FlashKind, Layout, flash, render_status, see_other};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/teams/{slug}/webhooks", get(page).post(create))
        .route("/teams/{slug}/webhooks/{id}/delete", post(delete))
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
}

impl WebhooksPage {
    fn is_chosen(&self, kind: &EventKind) -> bool {
        self.chosen.iter().any(|k| k == kind.as_str())
    }
}

async fn webhooks_page(
    state: &AppState,
    layout: Layout,
    membership: Membership,
    url: String,
    chosen: Vec<String>,
    errors: FieldErrors,
) -> AppResult<Response> {
    let webhooks = store::of_team(&state.db, membership.team.id).await?;
    let log = store::log(&state.db, membership.team.id, 50).await?;
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    render_status(status, &WebhooksPage { layout, membership, webhooks, log, kinds: KINDS, url, chosen, errors })
}

async fn page(
    State(state): State<AppState>,
    layout: Layout,
    LeadCtx { user: _, membership }: LeadCtx,
) -> AppResult<Response> {
    let chosen = KINDS.iter().map(|k| k.as_str().to_owned()).collect();
    webhooks_page(&state, layout, membership, String::new(), chosen, FieldErrors::new()).await
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
    let private_literal = |link: &str| {
        reqwest::Url::parse(link).ok().and_then(|u| match u.host() {
            Some(url::Host::Ipv4(ip)) => Some(super::is_private(ip.into())),
            Some(url::Host::Ipv6(ip)) => Some(super::is_private(ip.into())),
            // Names are checked when delivering, against what they resolve to then.
            _ => None,
        }) == Some(true)
    };
    let link = match parse_link(&url, "The webhook URL") {
        Ok(Some(link)) if private_literal(&link) && !state.config.webhook_allow_private => {
            errors.add("url", "Webhooks cannot point at loopback or private addresses.");
            None
        }
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
    let (Some(link), Some(kinds)) = (link, kinds) else {
        return webhooks_page(&state, layout, membership, url, chosen, errors).await;
    };
    super::actions::add(&state.db, membership.team.id, &user, &link, &kinds).await?;
    flash(&session, FlashKind::Success, "Webhook added. Check its signature with the secret shown below.").await?;
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
    LeadCtx { membership, .. }: LeadCtx,
    Path(WebhookPath { id }): Path<WebhookPath>,
) -> AppResult<Response> {
    super::actions::remove(&state.db, membership.team.id, id.0).await?;
    flash(&session, FlashKind::Success, "Webhook removed; its pending deliveries are dropped.").await?;
    Ok(see_other(&format!("/teams/{}/webhooks", membership.team.slug)))
}

impl LogLine {
    pub fn created_label(&self) -> String {
        crate::web::utc_label(&self.created_at)
    }
}
