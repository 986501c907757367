//! Changes to a team, each in one transaction: creating and renaming it, and changing or
//! removing a member under the lock of the team's member rows (so two leads cannot demote each
//! other to nobody, and a lead demoted meanwhile can no longer act as one). Each change writes
//! its entry in the team's audit log in the same transaction.

use sqlx::{PgPool, Postgres, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::store::{self, Invite, SlugError};
use super::{
    INVITE_VALIDITY, Team, TeamRole, check_can_archive, check_invite_usable, check_inviter_still_lead, check_leaving,
    check_not_archived, check_removal, check_role_change, new_invite_token,
};
use crate::accounts::User;
use crate::audit::{AuditKind, NewEntry, store as audit};
use crate::error::{AppError, AppResult};
use crate::gamedays::actions::{check_can_become_viewer, leave_open_gamedays};

const SLUG_TAKEN: &str = "Another team already uses this URL name. Choose another one.";

fn slug_refused(err: SlugError) -> AppError {
    match err {
        SlugError::Taken => AppError::invalid("slug", SLUG_TAKEN),
        SlugError::Database(err) => err.into(),
    }
}

/// Creates a team with its creator as its first lead.
pub async fn create(db: &PgPool, name: &str, slug: &str, creator: &User) -> AppResult<Team> {
    create_marked(db, name, slug, creator, false).await
}

/// Creates a team as [`create`] does, marked as a demo team (`crate::demo`) when `demo`.
pub async fn create_marked(db: &PgPool, name: &str, slug: &str, creator: &User, demo: bool) -> AppResult<Team> {
    let mut tx = db.begin().await?;
    let team = store::create_team(&mut tx, name, slug, creator.id, demo).await.map_err(slug_refused)?;
    let body = format!("{} created the team \"{}\".", creator.display_name, team.name);
    let detail = serde_json::json!({ "name": team.name, "slug": team.slug });
    audit::record(&mut tx, NewEntry::new(team.id, creator.id, AuditKind::TeamCreated, body).detail(detail)).await?;
    tx.commit().await?;
    tracing::info!(team_id = %team.id, "team created");
    Ok(team)
}

/// A lead renames a team or changes its URL name. Saving the settings unchanged records nothing.
pub async fn update(db: &PgPool, team_id: Uuid, actor: &User, name: &str, slug: &str) -> AppResult<()> {
    let mut tx = db.begin().await?;
    let before = store::lock_team(&mut tx, team_id).await?.ok_or(AppError::NotFound)?;
    let mut changes = Vec::new();
    if before.name != name {
        changes.push(format!("renamed the team from \"{}\" to \"{name}\"", before.name));
    }
    if before.slug != slug {
        changes.push(format!("changed its URL name from {} to {slug}", before.slug));
    }
    if changes.is_empty() {
        return Ok(());
    }
    store::update_team(&mut tx, team_id, name, slug).await.map_err(slug_refused)?;
    let body = format!("{} {}.", actor.display_name, changes.join(" and "));
    let detail = serde_json::json!({
        "name": { "from": before.name, "to": name },
        "slug": { "from": before.slug, "to": slug },
    });
    audit::record(&mut tx, NewEntry::new(team_id, actor.id, AuditKind::TeamSettingsChanged, body).detail(detail))
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A lead archives the team (`archive`), which makes it read-only, or unarchives it. A team is
/// not archived while one of its game days is scheduled or running. Doing what is already done
/// records nothing.
pub async fn set_archived(db: &PgPool, team_id: Uuid, actor: &User, archive: bool) -> AppResult<()> {
    let mut tx = db.begin().await?;
    let locked = store::lock_members(&mut tx, team_id).await?;
    if !locked.role_of(actor.id).is_some_and(|r| r.is_lead()) {
        return Err(AppError::Forbidden("Only a team lead can do that.".into()));
    }
    if archive {
        let unfinished = crate::gamedays::store::scheduled_or_running(&mut tx, team_id).await?;
        check_can_archive(&unfinished).map_err(AppError::Conflict)?;
    }
    if !store::set_archived(&mut tx, team_id, archive).await? {
        return Ok(());
    }
    let (kind, body) = if archive {
        (AuditKind::TeamArchived, format!("{} archived the team; it is read-only now.", actor.display_name))
    } else {
        (AuditKind::TeamUnarchived, format!("{} unarchived the team.", actor.display_name))
    };
    audit::record(&mut tx, NewEntry::new(team_id, actor.id, kind, body)).await?;
    tx.commit().await?;
    tracing::info!(team_id = %team_id, archive, "team archive state changed");
    Ok(())
}

/// The display name of a member (for the messages on the game days they are on).
async fn member_name(db: &PgPool, team_id: Uuid, user_id: Uuid) -> AppResult<String> {
    let members = store::members(db, team_id).await?;
    Ok(members.into_iter().find(|m| m.user_id == user_id).map(|m| m.display_name).unwrap_or_default())
}

/// A lead gives `target` a new role. The team keeps a lead, and someone with a signing role on
/// an open game day does not become a viewer.
pub async fn change_role(db: &PgPool, team_id: Uuid, actor: &User, target: Uuid, role: TeamRole) -> AppResult<()> {
    let mut tx = db.begin().await?;
    let locked = store::lock_members(&mut tx, team_id).await?;
    if !locked.role_of(actor.id).is_some_and(|r| r.is_lead()) {
        return Err(AppError::Forbidden("Only a team lead can do that.".into()));
    }
    let current = locked.role_of(target).ok_or(AppError::NotFound)?;
    check_role_change(locked.leads(), current, role).map_err(AppError::Conflict)?;
    if current == role {
        return Ok(());
    }
    let name = member_name(db, team_id, target).await?;
    if role == TeamRole::Viewer {
        check_can_become_viewer(&mut tx, team_id, target, &name).await?;
    }
    store::set_role(&mut tx, team_id, target, role).await?;
    let body = format!("{} changed {name}'s role from {} to {}.", actor.display_name, current.as_str(), role.as_str());
    let detail = serde_json::json!({ "member": target, "from": current.as_str(), "to": role.as_str() });
    audit::record(&mut tx, NewEntry::new(team_id, actor.id, AuditKind::MemberRoleChanged, body).detail(detail)).await?;
    tx.commit().await?;
    tracing::info!(team_id = %team_id, member = %target, role = role.as_str(), "role changed");
    Ok(())
}

/// A lead removes `target`, or a member leaves (`target` is the actor). The team keeps a lead,
/// and whoever goes leaves the team's open game days too, unless they are the only facilitator
/// of one or a signer whose objection still stands on one of its scenarios.
pub async fn remove_member(db: &PgPool, team_id: Uuid, actor: &User, target: Uuid) -> AppResult<()> {
    let leaving = target == actor.id;
    let mut tx = db.begin().await?;
    let locked = store::lock_members(&mut tx, team_id).await?;
    // Checked under the lock: a lead demoted meanwhile can no longer remove others.
    if !leaving && !locked.role_of(actor.id).is_some_and(|r| r.is_lead()) {
        return Err(AppError::Forbidden("Only a team lead can remove members.".into()));
    }
    let role = locked.role_of(target).ok_or(AppError::NotFound)?;
    if leaving {
        let team = store::team(&mut *tx, team_id).await?.ok_or(AppError::NotFound)?;
        check_leaving(locked.leads(), role, &team.name).map_err(AppError::Conflict)?;
    } else {
        check_removal(locked.leads(), role).map_err(AppError::Conflict)?;
    }
    let name = member_name(db, team_id, target).await?;
    leave_open_gamedays(&mut tx, team_id, target, &name, actor.id).await?;
    store::remove_member(&mut tx, team_id, target).await?;
    let (kind, body) = if leaving {
        (AuditKind::MemberLeft, format!("{name} left the team (was {}).", role.as_str()))
    } else {
        (AuditKind::MemberRemoved, format!("{} removed {name} ({}) from the team.", actor.display_name, role.as_str()))
    };
    let detail = serde_json::json!({ "member": target, "role": role.as_str() });
    audit::record(&mut tx, NewEntry::new(team_id, actor.id, kind, body).detail(detail)).await?;
    tx.commit().await?;
    tracing::info!(team_id = %team_id, member = %target, "member removed");
    Ok(())
}

/// Joins the team of the invite whose token hashes to `token_hash`, using the invite up; joining
/// a team one is already in leaves the invite unused. Returns the invite and whether one joined.
pub async fn accept_invite(db: &PgPool, token_hash: &[u8], user: &User) -> AppResult<(Invite, bool)> {
    let mut tx = db.begin().await?;
    let invite = store::invite_by_token(&mut tx, token_hash).await?.ok_or(AppError::NotFound)?;
    check_invite_usable(invite.used, invite.revoked, invite.expires_at, OffsetDateTime::now_utc())?;
    check_not_archived(invite.team_archived_at).map_err(AppError::Conflict)?;
    // Under the lock of the creator's member row: a demotion or removal waits, or has happened.
    check_inviter_still_lead(store::lock_invite_creator_role(&mut tx, invite.id).await?)?;
    let joined = store::add_member(&mut tx, invite.team.id, user.id, invite.role).await?;
    if joined {
        store::mark_invite_used(&mut tx, invite.id, user.id).await?;
        let body = format!(
            "{} joined as {} with an invite from {}.",
            user.display_name,
            with_article(invite.role),
            invite.invited_by
        );
        let detail = serde_json::json!({ "invite": invite.id, "member": user.id, "role": invite.role.as_str() });
        audit::record(&mut tx, NewEntry::new(invite.team.id, user.id, AuditKind::InviteAccepted, body).detail(detail))
            .await?;
    }
    tx.commit().await?;
    if joined {
        tracing::info!(team_id = %invite.team.id, user_id = %user.id, "joined team by invite");
    }
    Ok((invite, joined))
}

/// A new single-use invite to the team for `role`, valid for a week: its secret token (only its
/// hash is stored, so the link is shown once). With `send_to`, the link is also e-mailed there,
/// from the same transaction (the audit log says it was e-mailed, not to whom).
pub async fn invite(
    db: &PgPool,
    (team_id, team_name): (Uuid, &str),
    actor: &User,
    role: TeamRole,
    send_to: Option<&crate::accounts::Email>,
) -> AppResult<String> {
    let (token, hash) = new_invite_token();
    let expires_at = OffsetDateTime::now_utc() + INVITE_VALIDITY;
    let mut tx = db.begin().await?;
    let id = store::create_invite(&mut tx, team_id, &hash, role, actor.id, expires_at).await?;
    let mut body = format!("{} created an invite link for {}", actor.display_name, with_article(role));
    if let Some(address) = send_to {
        let message = crate::email::compose(&crate::email::Content {
            name: "there",
            subject: format!("{} invited you to {} on Gameday", actor.display_name, team_name),
            paragraphs: vec![
                format!(
                    "{} invited you to join the team {} on Gameday as {}. Gameday runs chaos-engineering game days: \
                     faults everyone agreed to beforehand, a live timeline on the day, and what was learned kept.",
                    actor.display_name,
                    team_name,
                    with_article(role)
                ),
                format!(
                    "The link works once and for {} days. If you did not expect it, ignore this e-mail.",
                    INVITE_VALIDITY.whole_days()
                ),
            ],
            action: Some(("Join the team", format!("{}/invites/{token}", crate::email::BASE_URL))),
            unsubscribe: None,
        });
        let kind = crate::email::Kind::Invitation;
        if !crate::email::store::enqueue_to_address(&mut tx, address.as_str(), kind, &message).await? {
            return Err(AppError::invalid("email", "Gameday does not send e-mail to that address."));
        }
        body.push_str(" and e-mailed it");
    }
    body.push('.');
    let detail = serde_json::json!({ "invite": id, "role": role.as_str(), "emailed": send_to.is_some() });
    audit::record(&mut tx, NewEntry::new(team_id, actor.id, AuditKind::InviteCreated, body).detail(detail)).await?;
    tx.commit().await?;
    tracing::info!(team_id = %team_id, role = role.as_str(), emailed = send_to.is_some(), "invite created");
    Ok(token)
}

/// A lead revokes a pending invite of the team.
pub async fn revoke_invite(db: &PgPool, team_id: Uuid, actor: &User, invite: Uuid) -> AppResult<()> {
    let mut tx = db.begin().await?;
    let role = store::revoke_invite(&mut tx, team_id, invite).await?.ok_or(AppError::NotFound)?;
    let body = format!("{} revoked an unused invite link for {}.", actor.display_name, with_article(role));
    let detail = serde_json::json!({ "invite": invite, "role": role.as_str() });
    audit::record(&mut tx, NewEntry::new(team_id, actor.id, AuditKind::InviteRevoked, body).detail(detail)).await?;
    tx.commit().await?;
    Ok(())
}

/// A member makes their own fault-calendar feed URL for the team, or a new one: their old one
/// (and nobody else's) stops working. Returns the secret, shown once (only its hash is stored).
pub async fn new_calendar_feed(db: &PgPool, team_id: Uuid, actor: &User) -> AppResult<String> {
    let (token, hash) = super::new_calendar_token();
    let mut tx = db.begin().await?;
    store::set_calendar_feed(&mut tx, team_id, actor.id, &hash).await?;
    let body = format!(
        "{} made a new personal fault-calendar address; their old one, if any, stopped working.",
        actor.display_name
    );
    audit::record(&mut tx, NewEntry::new(team_id, actor.id, AuditKind::CalendarAddressChanged, body)).await?;
    tx.commit().await?;
    Ok(token)
}

/// A role as a sentence names it: "a lead", "a member", "a viewer".
fn with_article(role: TeamRole) -> String {
    format!("a {}", role.as_str())
}

/// A lead turns the team's two-factor rule on or off. A lead must have two-factor sign-in
/// themselves to require it; members without it keep their membership and see, on the team's
/// pages, what to set up. Returns who has not set it up yet.
pub async fn require_two_factor(db: &PgPool, team_id: Uuid, actor: &User, required: bool) -> AppResult<Vec<String>> {
    if required && !actor.two_factor {
        return Err(AppError::Conflict(
            "Set up two-factor sign-in for yourself first (Account › Two-factor sign-in): a lead who requires it has it."
                .into(),
        ));
    }
    let mut tx = db.begin().await?;
    let before = store::lock_team_two_factor(&mut tx, team_id).await?.ok_or(AppError::NotFound)?;
    let without = store::members_without_two_factor(&mut *tx, team_id).await?;
    if before == required {
        return Ok(without);
    }
    store::set_two_factor_required(&mut tx, team_id, required).await?;
    let body = if required {
        format!("{} now requires two-factor sign-in of every member.", actor.display_name)
    } else {
        format!("{} no longer requires two-factor sign-in.", actor.display_name)
    };
    let detail = serde_json::json!({ "require_two_factor": { "from": before, "to": required } });
    audit::record(&mut tx, NewEntry::new(team_id, actor.id, AuditKind::TeamSettingsChanged, body).detail(detail))
        .await?;
    tx.commit().await?;
    tracing::info!(%team_id, required, "team two-factor rule changed");
    Ok(without)
}

/// What deleting an account does to one of the person's teams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Departure {
    /// They left it (and its open game days), as with "Leave team".
    Left,
    /// They are its only member, or it is their demo team (whose other people are made up): the
    /// team stays as it is, a record, with the former member as its lead (nobody can sign in as
    /// them any more).
    KeptAlone,
}

/// The part of deleting an account that concerns one team, inside the deletion's transaction:
/// the person leaves it under the same rules as "Leave team" (the team keeps a lead; no standing
/// objection or sole facilitation is dropped), except that the only member of a team stays, since
/// a team cannot be left without a lead and its record is kept.
pub async fn depart_for_deletion(
    tx: &mut Transaction<'static, Postgres>,
    team_id: Uuid,
    person: &User,
) -> AppResult<Departure> {
    // The team's row first: an invite accepted meanwhile cannot slip in between the count and
    // the decision.
    let team = store::lock_team(tx, team_id).await?.ok_or(AppError::NotFound)?;
    let locked = store::lock_members(tx, team_id).await?;
    let role = locked.role_of(person.id).ok_or(AppError::NotFound)?;
    let alone = store::member_count(&mut **tx, team_id).await? == 1;
    if super::kept_on_deletion(alone, store::is_demo(&mut **tx, team_id).await?) {
        return Ok(Departure::KeptAlone);
    }
    check_leaving(locked.leads(), role, &team.name).map_err(AppError::Conflict)?;
    // What is written now is permanent (and may go out by webhook): it names nobody.
    let name = crate::accounts::FORMER_MEMBER;
    leave_open_gamedays(tx, team_id, person.id, name, person.id).await?;
    store::remove_member(tx, team_id, person.id).await?;
    let body = format!("{name} (was {}) left the team: they deleted their account.", role.as_str());
    let detail = serde_json::json!({ "member": person.id, "role": role.as_str(), "account_deleted": true });
    audit::record(tx, NewEntry::new(team_id, person.id, AuditKind::MemberLeft, body).detail(detail)).await?;
    Ok(Departure::Left)
}
