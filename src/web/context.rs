//! Extractors that give a handler what it needs, already checked: who is signed in, the team
//! they are a member of, the game day and their role on it, the scenario. Each loads its context
//! once and refuses in one way: a visitor goes to the sign-in page; a non-member, an unknown id
//! and a malformed one all get the same 404, so ids cannot be probed (team isolation).

use axum::extract::FromRequestParts;
use axum::extract::rejection::PathRejection;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::auth::CurrentUser;
use crate::accounts::User;
use crate::db::connection;
use crate::error::{AppError, AppResult};
use crate::gamedays::{Gameday, GamedayRole, store as gameday_store};
use crate::ids::{GamedayId, ScenarioId};
use crate::scenarios::store::{self as scenario_store, Scenario};
use crate::state::AppState;
use crate::teams::{Membership, check_not_archived, parse_slug, store as team_store};

/// Path parameters, deserialised; a segment that does not parse (a malformed id) is a 404, as an
/// unknown one is.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct Path<T>(pub T);

impl From<PathRejection> for AppError {
    fn from(_: PathRejection) -> Self {
        AppError::NotFound
    }
}

#[derive(Deserialize)]
struct TeamPath {
    slug: String,
}

#[derive(Deserialize)]
struct GamedayPath {
    slug: String,
    id: GamedayId,
}

#[derive(Deserialize)]
struct ScenarioPath {
    sid: ScenarioId,
}

/// The signed-in user, or the redirect to the sign-in page.
async fn user(parts: &mut Parts, state: &AppState) -> Result<User, Response> {
    let CurrentUser(user) = CurrentUser::from_request_parts(parts, state).await?;
    Ok(user)
}

async fn path<T: serde::de::DeserializeOwned + Send>(parts: &mut Parts, state: &AppState) -> Result<T, Response> {
    let Path(value) = Path::<T>::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
    Ok(value)
}

/// The team behind `slug` if `user` is a member; otherwise 404, exactly as for a team that does not exist.
/// A member of a team that requires two-factor sign-in, who has not set it up, gets 403 saying so.
pub async fn membership_or_404(state: &AppState, slug: &str, user: &User) -> AppResult<Membership> {
    // A malformed slug names no team (and never reaches SQL: PostgreSQL refuses a NUL, for one).
    if parse_slug(slug).is_err() {
        return Err(AppError::NotFound);
    }
    let membership =
        team_store::membership(&mut *connection(&state.db).await?, slug, user.id).await?.ok_or(AppError::NotFound)?;
    admitted(membership, user)
}

/// The membership, if the team lets `user` in: a team that requires two-factor sign-in of its
/// members answers a member without it with 403, saying what to set up.
pub fn admitted(membership: Membership, user: &User) -> AppResult<Membership> {
    if membership.two_factor_required && !user.two_factor {
        return Err(AppError::Forbidden(format!(
            "{} requires two-factor sign-in of its members. Set it up under Account › Two-factor sign-in, then come back.",
            membership.team.name
        )));
    }
    Ok(membership)
}

/// A team page (`/teams/{slug}/…`) as one of its members sees it.
pub struct TeamCtx {
    pub user: User,
    pub membership: Membership,
}

impl TeamCtx {
    /// The team's URL.
    pub fn url(&self) -> String {
        format!("/teams/{}", self.membership.team.slug)
    }
}

/// An archived team is read-only: a request that may change something (any method but GET,
/// HEAD, OPTIONS and TRACE) is refused with 409 before its handler runs, whatever it would
/// change. The one rule is `teams::check_not_archived`; only [`ArchiveCtx`] passes it by.
fn check_writable(parts: &Parts, membership: &Membership) -> AppResult<()> {
    if parts.method.is_safe() {
        return Ok(());
    }
    check_not_archived(membership.archived_at).map_err(AppError::Conflict)
}

/// The team behind the path's `{slug}` for its member, archived or not.
async fn team_of(parts: &mut Parts, state: &AppState) -> Result<TeamCtx, Response> {
    let user = user(parts, state).await?;
    let TeamPath { slug } = path(parts, state).await?;
    let membership = membership_or_404(state, &slug, &user).await.map_err(IntoResponse::into_response)?;
    Ok(TeamCtx { user, membership })
}

impl FromRequestParts<AppState> for TeamCtx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ctx = team_of(parts, state).await?;
        check_writable(parts, &ctx.membership).map_err(IntoResponse::into_response)?;
        Ok(ctx)
    }
}

/// Like [`LeadCtx`], but also for an archived team that refuses every other change: for
/// archiving and unarchiving it.
pub struct ArchiveCtx {
    pub user: User,
    pub membership: Membership,
}

impl FromRequestParts<AppState> for ArchiveCtx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let TeamCtx { user, membership } = team_of(parts, state).await?;
        if !membership.role.is_lead() {
            return Err(AppError::Forbidden("Only a team lead can do that.".into()).into_response());
        }
        Ok(ArchiveCtx { user, membership })
    }
}

/// Like [`TeamCtx`], for what only a team lead may do: a member who is not a lead gets 403 (they
/// know the team exists); a non-member still gets 404.
pub struct LeadCtx {
    pub user: User,
    pub membership: Membership,
}

impl FromRequestParts<AppState> for LeadCtx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let TeamCtx { user, membership } = TeamCtx::from_request_parts(parts, state).await?;
        if !membership.role.is_lead() {
            return Err(AppError::Forbidden("Only a team lead can do that.".into()).into_response());
        }
        Ok(LeadCtx { user, membership })
    }
}

/// A game day (`/teams/{slug}/gamedays/{id}/…`) as a team member sees it, with their role on it.
pub struct GamedayCtx {
    pub user: User,
    pub membership: Membership,
    pub gameday: Gameday,
    /// The viewer's role on this game day; None for a team member who is not on it.
    pub role: Option<GamedayRole>,
}

impl GamedayCtx {
    /// The game day's URL.
    pub fn url(&self) -> String {
        format!("/teams/{}/gamedays/{}", self.membership.team.slug, self.gameday.id)
    }

    /// How far the viewer's corrections of observations reach (`all`, `own`, `none`), for the page
    /// script that trims "Correct" from events pushed live.
    pub fn correction_reach(&self) -> &'static str {
        crate::timeline::correction_reach(self.role)
    }

    /// Whether the viewer may halt a fault in flight (the banners offer the button).
    pub fn may_halt(&self) -> bool {
        crate::scenarios::gate::may_halt(self.role)
    }

    /// Reads the game day again (after a refused change, to show it as it now stands).
    pub async fn reload(self, state: &AppState) -> AppResult<GamedayCtx> {
        let fresh = gameday_store::gameday_in_team(&state.db, self.membership.team.id, self.gameday.id).await?;
        Ok(GamedayCtx { gameday: fresh.ok_or(AppError::NotFound)?, ..self })
    }
}

impl FromRequestParts<AppState> for GamedayCtx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let user = user(parts, state).await?;
        let GamedayPath { slug, id } = path(parts, state).await?;
        let ctx = load_gameday(state, user, &slug, id).await.map_err(IntoResponse::into_response)?;
        check_writable(parts, &ctx.membership).map_err(IntoResponse::into_response)?;
        Ok(ctx)
    }
}

/// Loads a game day of the team behind `slug` for `user`; 404 for non-members and other teams' game days.
/// One statement reads the membership, the game day and the role (usually the session's load).
pub async fn load_gameday(state: &AppState, user: User, slug: &str, id: GamedayId) -> AppResult<GamedayCtx> {
    if parse_slug(slug).is_err() {
        return Err(AppError::NotFound);
    }
    // Usually read with the session (the request's path named this game day).
    let found = match super::sessions::take_loaded_context(user.id, slug, id.0) {
        Some(loaded) => loaded.map(gameday_store::MemberContextRow::into_context),
        None => gameday_store::member_context(&mut *connection(&state.db).await?, slug, user.id, id.0).await?,
    };
    let (membership, gameday, role) = found.ok_or(AppError::NotFound)?;
    let membership = admitted(membership, &user)?;
    Ok(GamedayCtx { user, membership, gameday: gameday.ok_or(AppError::NotFound)?, role })
}

/// A scenario (`…/gamedays/{id}/scenarios/{sid}/…`) of a game day the viewer's team holds.
pub struct ScenarioCtx {
    pub day: GamedayCtx,
    pub scenario: Scenario,
}

impl ScenarioCtx {
    /// The scenario's URL.
    pub fn url(&self) -> String {
        format!("{}/scenarios/{}", self.day.url(), self.scenario.id)
    }
}

impl FromRequestParts<AppState> for ScenarioCtx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let day = GamedayCtx::from_request_parts(parts, state).await?;
        let ScenarioPath { sid } = path(parts, state).await?;
        let scenario = scenario_store::scenario(&state.db, day.gameday.id, sid.0)
            .await
            .map_err(|err| AppError::from(err).into_response())?
            .ok_or_else(|| AppError::NotFound.into_response())?;
        Ok(ScenarioCtx { day, scenario })
    }
}
