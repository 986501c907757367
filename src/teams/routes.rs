//! Team pages: my teams, create, the team page with its members, settings, role changes, removal.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use super::store::{self, Member, PendingInvite};
use super::{
    Membership, NEW_CALENDAR_FEED_KEY, NEW_INVITE_KEY, NewCalendarFeed, NewInvite, TeamRole, derive_slug, parse_slug,
    parse_team_name,
};
use crate::accounts::User;
use crate::db::connection;
use crate::error::{AppError, AppResult};
use crate::form::FieldErrors;
use crate::ids::UserId;
use crate::scenarios::store::signoffs::AwaitingSignoff;
use crate::state::AppState;
use crate::web::auth::CurrentUser;
use crate::web::context::{ArchiveCtx, LeadCtx, Path, TeamCtx};
use crate::web::paging::{self, PAGE_SIZE};
use crate::web::refusal::refused;
use crate::web::{FlashKind, Layout, flash, render, render_status, see_other};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/teams", get(index).post(create))
        .route("/teams/new", get(new_page))
        .route("/teams/{slug}", get(show))
        .route("/teams/{slug}/settings", get(settings_page).post(update_settings))
        .route("/teams/{slug}/settings/two-factor", post(require_two_factor))
        .route("/teams/{slug}/members/{user_id}/role", post(change_role))
        .route("/teams/{slug}/members/{user_id}/remove", post(remove_member))
        .route("/teams/{slug}/leave", get(leave_page).post(leave))
        .route("/teams/{slug}/archive", post(archive))
        .route("/teams/{slug}/unarchive", post(unarchive))
}

/// The member a change is about (`/teams/{slug}/members/{user_id}/…`).
#[derive(Deserialize)]
struct MemberPath {
    user_id: UserId,
}

#[derive(Template)]
#[template(path = "teams/index.html")]
struct IndexPage {
    layout: Layout,
}

async fn index(layout: Layout, CurrentUser(_user): CurrentUser) -> AppResult<Response> {
    render(&IndexPage { layout })
}

#[derive(Template)]
#[template(path = "teams/new.html")]
struct NewPage {
    layout: Layout,
    name: String,
    slug: String,
    errors: FieldErrors,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TeamForm {
    name: String,
    slug: String,
}

async fn new_page(layout: Layout, CurrentUser(_user): CurrentUser) -> AppResult<Response> {
    render(&NewPage { layout, name: String::new(), slug: String::new(), errors: FieldErrors::new() })
}

/// Validates a team form; a blank slug is derived from the name.
fn parse_team_form(form: &TeamForm, errors: &mut FieldErrors) -> Option<(String, String)> {
    let name = errors.check("name", parse_team_name(&form.name));
    let slug_input = if form.slug.trim().is_empty() {
        name.as_deref().map(derive_slug).unwrap_or_default()
    } else {
        form.slug.trim().to_owned()
    };
    let slug = if name.is_some() || !form.slug.trim().is_empty() {
        errors.check("slug", parse_slug(&slug_input))
    } else {
        None
    };
    Some((name?, slug?))
}

async fn create(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    CurrentUser(user): CurrentUser,
    Form(form): Form<TeamForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::new();
    let invalid = |errors: FieldErrors, layout: Layout| {
        render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &NewPage { layout, name: form.name.clone(), slug: form.slug.clone(), errors },
        )
    };
    let Some((name, slug)) = parse_team_form(&form, &mut errors) else {
        return invalid(errors, layout);
    };
    let team = match super::actions::create(&state.db, &name, &slug, &user).await {
        Ok(team) => team,
        Err(err) => {
            refused(err, &mut errors)?;
            return invalid(errors, layout);
        }
    };
    flash(&session, FlashKind::Success, format!("Team {} created. Invite your teammates below.", team.name)).await?;
    Ok(see_other(&format!("/teams/{}", team.slug)))
}

#[derive(Template)]
#[template(path = "teams/show.html")]
struct ShowPage {
    layout: Layout,
    membership: Membership,
    me: Uuid,
    members: Vec<Member>,
    invites: Vec<PendingInvite>,
    new_invite: Option<NewInvite>,
    /// A refusal to show beside one member's row.
    member_error: Option<(Uuid, String)>,
    roles: [TeamRole; 3],
    /// One page of the team's game days, latest first.
    gamedays: Vec<crate::gamedays::store::GamedaySummary>,
    /// Whether this page of game days continues an earlier one (`?before=`).
    continued: bool,
    /// The game day to read on from when there are earlier ones than these.
    earlier: Option<Uuid>,
    /// Whether the viewer has made their own calendar feed URL for the team.
    has_feed: bool,
    /// The viewer's calendar feed URL, just made: shown this once.
    new_feed: Option<NewCalendarFeed>,
    /// This team's scenarios waiting for the viewer's sign-off.
    awaiting: Vec<AwaitingSignoff>,
}

impl ShowPage {
    /// Whether the viewer may plan a game day for the team (not in an archived team).
    fn can_plan(&self) -> bool {
        crate::gamedays::check_can_create(self.membership.role).is_ok()
            && super::check_not_archived(self.membership.archived_at).is_ok()
    }

    fn error_for(&self, user_id: &Uuid) -> Option<&str> {
        self.member_error.as_ref().filter(|(id, _)| id == user_id).map(|(_, msg)| msg.as_str())
    }

    /// Game days not over yet (upcoming, soonest first) or over (past, latest first).
    fn gamedays_in(&self, past: &bool) -> Vec<&crate::gamedays::store::GamedaySummary> {
        use crate::gamedays::GamedayStatus::{Cancelled, Completed};
        let mut group: Vec<_> =
            self.gamedays.iter().filter(|g| matches!(g.status, Completed | Cancelled) == *past).collect();
        if !*past {
            group.sort_by_key(|g| (g.starts_at.is_none(), g.starts_at));
        }
        group
    }
}

/// The team page: one page of its game days (earlier than `before` when given), or, after a
/// refused change to a member, the first page with its status and the reason beside their row.
async fn team_page(
    state: &AppState,
    layout: Layout,
    session: &Session,
    membership: Membership,
    me: Uuid,
    before: Option<Uuid>,
    refusal: Option<(StatusCode, Uuid, String)>,
) -> AppResult<Response> {
    let (status, member_error) = match refusal {
        Some((status, target, message)) => (status, Some((target, message))),
        None => (StatusCode::OK, None),
    };
    let lead = membership.role.is_lead();
    let store::TeamPage { members, invites, gamedays, has_feed, awaiting } =
        store::team_page(&mut *connection(&state.db).await?, membership.team.id, me, lead, before, PAGE_SIZE + 1)
            .await?;
    let new_invite = if lead {
        session.remove::<NewInvite>(NEW_INVITE_KEY).await?.filter(|invite| invite.team_slug == membership.team.slug)
    } else {
        None
    };
    let (gamedays, earlier) = paging::split(gamedays, |g| g.id);
    let new_feed = match session.get::<NewCalendarFeed>(NEW_CALENDAR_FEED_KEY).await? {
        Some(_) => session.remove::<NewCalendarFeed>(NEW_CALENDAR_FEED_KEY).await?,
        None => None,
    }
    .filter(|feed| feed.team_slug == membership.team.slug);
    let page = ShowPage {
        layout,
        membership,
        me,
        members,
        invites,
        new_invite,
        member_error,
        roles: TeamRole::ALL,
        gamedays,
        continued: before.is_some(),
        earlier,
        has_feed,
        new_feed,
        awaiting,
    };
    render_status(status, &page)
}

/// `?before=<game day>`: the team's game days earlier than that one.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Earlier {
    before: Option<String>,
}

async fn show(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    TeamCtx { user, membership }: TeamCtx,
    Query(Earlier { before }): Query<Earlier>,
) -> AppResult<Response> {
    let before = paging::position(before.as_deref())?;
    team_page(&state, layout, &session, membership, user.id, before, None).await
}

/// A refused change to a member: the team page again, with the reason beside their row.
async fn refused_beside(
    state: &AppState,
    layout: Layout,
    session: &Session,
    membership: Membership,
    me: Uuid,
    target: Uuid,
    err: AppError,
) -> AppResult<Response> {
    let mut errors = FieldErrors::new();
    let status = refused(err, &mut errors)?;
    let message = errors.messages().join(" ");
    team_page(state, layout, session, membership, me, None, Some((status, target, message))).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RoleForm {
    role: String,
}

async fn change_role(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    LeadCtx { user, membership }: LeadCtx,
    Path(MemberPath { user_id }): Path<MemberPath>,
    Form(form): Form<RoleForm>,
) -> AppResult<Response> {
    let target = user_id.0;
    let new_role = TeamRole::parse(&form.role).map_err(AppError::of_field("role"))?;

    if let Err(err) = super::actions::change_role(&state.db, membership.team.id, &user, target, new_role).await {
        return refused_beside(&state, layout, &session, membership, user.id, target, err).await;
    }
    flash(&session, FlashKind::Success, format!("Role changed to {}.", new_role.label())).await?;
    Ok(see_other(&format!("/teams/{}", membership.team.slug)))
}

async fn remove_member(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    TeamCtx { user, membership }: TeamCtx,
    Path(MemberPath { user_id }): Path<MemberPath>,
) -> AppResult<Response> {
    let target = user_id.0;
    let leaving = target == user.id;
    // Leads remove anyone; everyone may leave.
    if !membership.role.is_lead() && !leaving {
        return Err(AppError::Forbidden("Only a team lead can remove members.".into()));
    }

    if let Err(err) = super::actions::remove_member(&state.db, membership.team.id, &user, target).await {
        return refused_beside(&state, layout, &session, membership, user.id, target, err).await;
    }
    if leaving {
        flash(&session, FlashKind::Success, format!("You left {}.", membership.team.name)).await?;
        Ok(see_other("/"))
    } else {
        flash(&session, FlashKind::Success, "Member removed.").await?;
        Ok(see_other(&format!("/teams/{}", membership.team.slug)))
    }
}

#[derive(Template)]
#[template(path = "teams/leave.html")]
struct LeavePage {
    layout: Layout,
    membership: Membership,
    /// The game days not over yet that leaving takes the viewer off.
    open: Vec<crate::gamedays::store::OpenParticipation>,
    errors: FieldErrors,
}

/// The leave page: what leaving does (the open game days one leaves with the team), and the
/// button that does it. A refusal comes back here with its reason.
async fn leave_form(
    state: &AppState,
    layout: Layout,
    membership: Membership,
    me: Uuid,
    status: StatusCode,
    errors: FieldErrors,
) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    let open = crate::gamedays::store::open_participations(&mut conn, membership.team.id, me).await?;
    render_status(status, &LeavePage { layout, membership, open, errors })
}

async fn leave_page(
    State(state): State<AppState>,
    layout: Layout,
    TeamCtx { user, membership }: TeamCtx,
) -> AppResult<Response> {
    leave_form(&state, layout, membership, user.id, StatusCode::OK, FieldErrors::new()).await
}

async fn leave(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    TeamCtx { user, membership }: TeamCtx,
) -> AppResult<Response> {
    if let Err(err) = super::actions::remove_member(&state.db, membership.team.id, &user, user.id).await {
        let mut errors = FieldErrors::new();
        let status = refused(err, &mut errors)?;
        return leave_form(&state, layout, membership, user.id, status, errors).await;
    }
    flash(&session, FlashKind::Success, format!("You left {}.", membership.team.name)).await?;
    Ok(see_other("/"))
}

#[derive(Template)]
#[template(path = "teams/settings.html")]
struct SettingsPage {
    layout: Layout,
    membership: Membership,
    name: String,
    slug: String,
    /// Members who have not set up two-factor sign-in.
    without_two_factor: Vec<String>,
    /// Whether the lead viewing the page has two-factor sign-in.
    lead_has_two_factor: bool,
    errors: FieldErrors,
}

impl SettingsPage {
    async fn new(state: &AppState, layout: Layout, user: &User, membership: Membership) -> AppResult<SettingsPage> {
        let without_two_factor = store::members_without_two_factor(&state.db, membership.team.id).await?;
        let (name, slug) = (membership.team.name.clone(), membership.team.slug.clone());
        let lead_has_two_factor = user.two_factor;
        Ok(SettingsPage {
            layout,
            membership,
            name,
            slug,
            without_two_factor,
            lead_has_two_factor,
            errors: FieldErrors::new(),
        })
    }
}

async fn settings_page(
    State(state): State<AppState>,
    layout: Layout,
    LeadCtx { user, membership }: LeadCtx,
) -> AppResult<Response> {
    render(&SettingsPage::new(&state, layout, &user, membership).await?)
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct TwoFactorForm {
    /// "on" to require it; absent to stop requiring it.
    require: Option<String>,
}

/// A lead requires (or stops requiring) two-factor sign-in of the team's members.
async fn require_two_factor(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    LeadCtx { user, membership }: LeadCtx,
    Form(form): Form<TwoFactorForm>,
) -> AppResult<Response> {
    let required = form.require.as_deref() == Some("on");
    match super::actions::require_two_factor(&state.db, membership.team.id, &user, required).await {
        Ok(without) => {
            let message = match (required, without.len()) {
                (false, _) => "Two-factor sign-in is no longer required.".to_owned(),
                (true, 0) => "Two-factor sign-in is now required; every member has it.".to_owned(),
                (true, n) => format!(
                    "Two-factor sign-in is now required. {n} member{} cannot open the team until they set it up: {}.",
                    if n == 1 { "" } else { "s" },
                    without.join(", ")
                ),
            };
            flash(&session, FlashKind::Success, message).await?;
            Ok(see_other(&format!("/teams/{}/settings", membership.team.slug)))
        }
        Err(err) => {
            let mut errors = FieldErrors::new();
            let status = match err {
                // Shown in the two-factor section, not at the top of the page.
                AppError::Conflict(message) => {
                    errors.add("two_factor", message);
                    StatusCode::CONFLICT
                }
                other => refused(other, &mut errors)?,
            };
            let page = SettingsPage { errors, ..SettingsPage::new(&state, layout, &user, membership).await? };
            render_status(status, &page)
        }
    }
}

/// Archives the team (`archive`) or unarchives it; a refusal comes back to the settings page.
async fn set_archived(
    state: &AppState,
    layout: Layout,
    session: &Session,
    ArchiveCtx { user, membership }: ArchiveCtx,
    archive: bool,
) -> AppResult<Response> {
    if let Err(err) = super::actions::set_archived(&state.db, membership.team.id, &user, archive).await {
        let mut errors = FieldErrors::new();
        let status = refused(err, &mut errors)?;
        let page = SettingsPage { errors, ..SettingsPage::new(state, layout, &user, membership).await? };
        return render_status(status, &page);
    }
    let message = if archive {
        format!("{} is archived: it is read-only now.", membership.team.name)
    } else {
        format!("{} is no longer archived.", membership.team.name)
    };
    flash(session, FlashKind::Success, message).await?;
    Ok(see_other(&format!("/teams/{}", membership.team.slug)))
}

async fn archive(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ctx: ArchiveCtx,
) -> AppResult<Response> {
    set_archived(&state, layout, &session, ctx, true).await
}

async fn unarchive(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ctx: ArchiveCtx,
) -> AppResult<Response> {
    set_archived(&state, layout, &session, ctx, false).await
}

async fn update_settings(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    LeadCtx { user, membership }: LeadCtx,
    Form(form): Form<TeamForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::new();
    let parsed = parse_team_form(&form, &mut errors);
    let status = match parsed {
        None => StatusCode::UNPROCESSABLE_ENTITY,
        Some((name, new_slug)) => {
            match super::actions::update(&state.db, membership.team.id, &user, &name, &new_slug).await {
                Ok(()) => {
                    flash(&session, FlashKind::Success, "Team settings saved.").await?;
                    return Ok(see_other(&format!("/teams/{new_slug}")));
                }
                Err(err) => refused(err, &mut errors)?,
            }
        }
    };
    let page = SettingsPage::new(&state, layout, &user, membership).await?;
    render_status(status, &SettingsPage { name: form.name.clone(), slug: form.slug.clone(), errors, ..page })
}
