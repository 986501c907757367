//! The pages of API tokens: a person's own (`/account/tokens`: make one, see the secret once,
//! revoke) and, for a team's leads, every token of the team's members (`/teams/{slug}/tokens`).

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use time::OffsetDateTime;
use tower_sessions::Session;
use uuid::Uuid;

use super::actions::{self, Revoker};
use super::{ApiToken, DEFAULT_LIFETIME, LIFETIMES, Scope, parse_new_token, store};
use crate::error::{AppError, AppResult};
use crate::form::FieldErrors;
use crate::state::AppState;
use crate::teams::{Membership, TeamRole};
use crate::web::auth::CurrentUser;
use crate::web::context::{ArchiveCtx, LeadCtx, Path};
use crate::web::refusal::refused;
use crate::web::{FlashKind, Layout, flash, render_status, see_other};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account/tokens", get(own_page).post(create))
        .route("/account/tokens/{id}/revoke", post(revoke_own))
        .route("/teams/{slug}/tokens", get(team_page))
        .route("/teams/{slug}/tokens/{id}/revoke", post(revoke_in_team))
}

/// A token just made, shown once: in the answer to the form that made it (never stored, not even
/// in the session; that answer is not cached).
struct NewSecret {
    token: Uuid,
    secret: String,
}

/// How both token lists read times and states: in the viewer's zone, as of this request.
struct Clock {
    time_zone: String,
    now: OffsetDateTime,
}

impl Clock {
    fn new(time_zone: String) -> Clock {
        Clock { time_zone, now: OffsetDateTime::now_utc() }
    }

    fn when(&self, at: &OffsetDateTime) -> String {
        crate::tz::format_local(at, &self.time_zone)
    }

    fn is_active(&self, token: &ApiToken) -> bool {
        token.is_active(self.now)
    }

    fn state_of(&self, token: &ApiToken) -> &'static str {
        token.state(self.now).label()
    }
}

/// What the make form holds, kept when it is shown again.
#[derive(Debug, Clone)]
struct TokenForm {
    name: String,
    team: String,
    scopes: Vec<String>,
    lifetime: String,
}

impl Default for TokenForm {
    fn default() -> Self {
        TokenForm {
            name: String::new(),
            team: String::new(),
            scopes: Vec::new(),
            lifetime: DEFAULT_LIFETIME.to_string(),
        }
    }
}

#[derive(Template)]
#[template(path = "accounts/tokens.html")]
struct OwnPage {
    layout: Layout,
    tokens: Vec<ApiToken>,
    form: TokenForm,
    errors: FieldErrors,
    new_secret: Option<NewSecret>,
    clock: Clock,
    scopes: [Scope; 3],
    lifetimes: [i64; 4],
}

impl OwnPage {
    fn is_chosen(&self, scope: &Scope) -> bool {
        self.form.scopes.iter().any(|s| s == scope.as_str())
    }

    /// The teams a token can be made for: the person's, but not archived ones.
    fn teams(&self) -> impl Iterator<Item = &crate::teams::NavTeam> {
        self.layout.teams.iter().filter(|t| !t.archived)
    }
}

async fn own_tokens_page(
    state: &AppState,
    layout: Layout,
    status: StatusCode,
    form: TokenForm,
    errors: FieldErrors,
    new_secret: Option<NewSecret>,
) -> AppResult<Response> {
    let user = layout.user.clone().ok_or(AppError::NotFound)?;
    let tokens = store::of_user(&state.db, user.id).await?;
    let page = OwnPage {
        layout,
        tokens,
        form,
        errors,
        new_secret,
        clock: Clock::new(user.time_zone),
        scopes: Scope::CHOSEN,
        lifetimes: LIFETIMES,
    };
    render_status(status, &page)
}

async fn own_page(State(state): State<AppState>, layout: Layout, CurrentUser(_): CurrentUser) -> AppResult<Response> {
    own_tokens_page(&state, layout, StatusCode::OK, TokenForm::default(), FieldErrors::new(), None).await
}

/// Reads the form by hand: checkboxes repeat the `scopes` key, which serde_urlencoded cannot.
async fn create(
    State(state): State<AppState>,
    layout: Layout,
    CurrentUser(user): CurrentUser,
    body: String,
) -> AppResult<Response> {
    let mut form = TokenForm { lifetime: String::new(), ..TokenForm::default() };
    for (key, value) in form_urlencoded::parse(body.as_bytes()) {
        match key.as_ref() {
            "name" => form.name = value.into_owned(),
            "team" => form.team = value.into_owned(),
            "scopes" => form.scopes.push(value.into_owned()),
            "lifetime" => form.lifetime = value.into_owned(),
            _ => {}
        }
    }
    let made = match parse_new_token(&form.name, &form.team, &form.scopes, &form.lifetime) {
        Ok(new) => actions::create(&state.db, &user, &new).await,
        Err(errors) => {
            return own_tokens_page(&state, layout, StatusCode::UNPROCESSABLE_ENTITY, form, errors, None).await;
        }
    };
    match made {
        Ok(made) => {
            // The page itself, not a redirect: the secret is never kept anywhere to show later.
            let shown = NewSecret { token: made.id, secret: made.token };
            let mut page = own_tokens_page(
                &state,
                layout,
                StatusCode::CREATED,
                TokenForm::default(),
                FieldErrors::new(),
                Some(shown),
            )
            .await?;
            page.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(page)
        }
        Err(err) => {
            let mut errors = FieldErrors::new();
            let status = refused(err, &mut errors)?;
            own_tokens_page(&state, layout, status, form, errors, None).await
        }
    }
}

/// A token's id in the path (beside a team's slug on the team's page).
#[derive(Deserialize)]
struct TokenPath {
    id: Uuid,
}

async fn revoke_own(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path(TokenPath { id }): Path<TokenPath>,
) -> AppResult<Response> {
    let name = actions::revoke(&state.db, &user, id, Revoker::Owner).await?;
    flash(&session, FlashKind::Success, format!("Revoked \"{name}\": it stopped working at once.")).await?;
    Ok(see_other("/account/tokens"))
}

#[derive(Template)]
#[template(path = "teams/tokens.html")]
struct TeamPage {
    layout: Layout,
    membership: Membership,
    tokens: Vec<ApiToken>,
    clock: Clock,
}

impl TeamPage {
    fn active(&self) -> usize {
        self.tokens.iter().filter(|t| self.clock.is_active(t)).count()
    }
}

async fn team_page(
    State(state): State<AppState>,
    layout: Layout,
    LeadCtx { user, membership }: LeadCtx,
) -> AppResult<Response> {
    debug_assert_eq!(membership.role, TeamRole::Lead);
    let tokens = store::of_team(&state.db, membership.team.id).await?;
    let page = TeamPage { layout, membership, tokens, clock: Clock::new(user.time_zone) };
    render_status(StatusCode::OK, &page)
}

/// Revokes a member's token; also in an archived team (whose tokens still read), so that a lead
/// never has to unarchive a team to stop a leaked token.
async fn revoke_in_team(
    State(state): State<AppState>,
    session: Session,
    ArchiveCtx { user, membership }: ArchiveCtx,
    Path(TokenPath { id }): Path<TokenPath>,
) -> AppResult<Response> {
    let name = actions::revoke(&state.db, &user, id, Revoker::LeadOf(membership.team.id)).await?;
    flash(&session, FlashKind::Success, format!("Revoked \"{name}\": it stopped working at once.")).await?;
    Ok(see_other(&format!("/teams/{}/tokens", membership.team.slug)))
}
