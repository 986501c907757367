//! Retrospectives: what held, what broke and what was learned, written by the facilitators of a
//! completed game day, reviewed by its participants and read by the team.
//! Lifecycle: `draft → in_review → published`; published is read-only, later additions are
//! dated addenda.

pub mod actions;
pub mod api;
pub mod export;
pub mod routes;
pub mod store;
pub mod views;

use serde::Deserialize;

use crate::form::FieldErrors;
use crate::gamedays::{GamedayRole, GamedayStatus, Refusal, multiline};
use crate::teams::TeamRole;

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "retro_status", rename_all = "snake_case")]
pub enum RetroStatus {
    Draft,
    InReview,
    Published,
}

impl RetroStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            RetroStatus::Draft => "draft",
            RetroStatus::InReview => "in_review",
            RetroStatus::Published => "published",
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            RetroStatus::Draft => "Draft",
            RetroStatus::InReview => "In review",
            RetroStatus::Published => "Published",
        }
    }
}

fn refuse<T>(message: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(message.into()))
}

/// A game day has a retrospective once it is completed.
pub fn open(gameday: GamedayStatus) -> Result<(), Refusal> {
    if gameday == GamedayStatus::Completed {
        Ok(())
    } else {
        refuse("The retrospective opens when the game day is completed.")
    }
}

/// Facilitators write while it is a draft or in review; published is read-only.
pub fn edit(status: RetroStatus, role: Option<GamedayRole>) -> Result<(), Refusal> {
    if role != Some(GamedayRole::Facilitator) {
        return refuse("Facilitators write the retrospective.");
    }
    match status {
        RetroStatus::Published => refuse("A published retrospective is read-only: add a dated addendum instead."),
        _ => Ok(()),
    }
}

pub fn submit(status: RetroStatus, role: Option<GamedayRole>) -> Result<(), Refusal> {
    edit(status, role)?;
    if status != RetroStatus::Draft {
        return refuse("Only a draft goes to review.");
    }
    Ok(())
}

pub fn publish(status: RetroStatus, role: Option<GamedayRole>) -> Result<(), Refusal> {
    edit(status, role)?;
    if status != RetroStatus::InReview {
        return refuse("Send the draft to review first, so participants can comment.");
    }
    Ok(())
}

/// Participants comment while it is in review; once published, any team member (a reviewer) does.
pub fn comment(status: RetroStatus, role: Option<GamedayRole>) -> Result<(), Refusal> {
    match status {
        RetroStatus::Draft => refuse("Comments open when the draft goes to review."),
        RetroStatus::InReview if role.is_none() => refuse("While in review, the game day's participants comment."),
        _ => Ok(()),
    }
}

/// After publication, facilitators add dated addenda.
pub fn addendum(status: RetroStatus, role: Option<GamedayRole>) -> Result<(), Refusal> {
    if role != Some(GamedayRole::Facilitator) {
        return refuse("Facilitators add addenda.");
    }
    if status != RetroStatus::Published {
        return refuse("Edit the retrospective itself until it is published.");
    }
    Ok(())
}

/// Writing the retrospective (its text, review, publication, addenda) and its learnings and
/// actions is for the team's leads and members: someone since made a team viewer keeps no
/// facilitator powers on the game days they ran.
pub fn check_writer(team_role: TeamRole) -> Result<(), crate::error::AppError> {
    if team_role == TeamRole::Viewer {
        return Err(crate::error::AppError::Forbidden(
            "Team viewers read retrospectives; a lead or member writes them and records learnings and actions.".into(),
        ));
    }
    Ok(())
}

/// A retrospective is published with a summary: it is what the team reads first.
pub fn check_publishable(summary: &str) -> Result<(), Refusal> {
    if summary.trim().is_empty() {
        return refuse("Write a summary before publishing: it is what the team reads first.");
    }
    Ok(())
}

pub fn mark_read(status: RetroStatus) -> Result<(), Refusal> {
    if status == RetroStatus::Published { Ok(()) } else { refuse("Only a published retrospective is marked read.") }
}

/// The text parts of a retrospective as entered.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct RetroForm {
    pub summary: String,
    pub went_well: String,
    pub surprised_us: String,
}

impl RetroForm {
    pub fn parse(&self, errors: &mut FieldErrors) -> Option<RetroForm> {
        let summary = errors.check("summary", multiline(&self.summary, "The summary", 0, 8000));
        let went_well = errors.check("went_well", multiline(&self.went_well, "What went well", 0, 8000));
        let surprised_us = errors.check("surprised_us", multiline(&self.surprised_us, "What surprised us", 0, 8000));
        Some(RetroForm { summary: summary?, went_well: went_well?, surprised_us: surprised_us? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: Option<GamedayRole> = Some(GamedayRole::Facilitator);
    const P: Option<GamedayRole> = Some(GamedayRole::Participant);

    #[test]
    fn the_lifecycle_runs_draft_review_published() {
        assert!(submit(RetroStatus::Draft, F).is_ok());
        assert!(submit(RetroStatus::InReview, F).is_err());
        assert!(publish(RetroStatus::Draft, F).is_err(), "review comes first");
        assert!(publish(RetroStatus::InReview, F).is_ok());
        assert!(publish(RetroStatus::InReview, P).is_err(), "facilitators publish");
    }

    #[test]
    fn an_empty_retrospective_is_not_published() {
        assert!(check_publishable("  \n").is_err());
        assert!(check_publishable("Failover took 40 s.").is_ok());
    }

    #[test]
    fn published_is_read_only_with_addenda() {
        assert!(edit(RetroStatus::InReview, F).is_ok());
        assert!(edit(RetroStatus::Published, F).is_err());
        assert!(addendum(RetroStatus::Published, F).is_ok());
        assert!(addendum(RetroStatus::InReview, F).is_err());
        assert!(addendum(RetroStatus::Published, P).is_err());
    }

    #[test]
    fn who_comments_when() {
        assert!(comment(RetroStatus::Draft, P).is_err());
        assert!(comment(RetroStatus::InReview, P).is_ok());
        assert!(comment(RetroStatus::InReview, None).is_err(), "reviewers wait for publication");
        assert!(comment(RetroStatus::Published, None).is_ok());
        assert!(mark_read(RetroStatus::Published).is_ok());
        assert!(mark_read(RetroStatus::InReview).is_err());
        assert!(open(GamedayStatus::Running).is_err());
        assert!(open(GamedayStatus::Completed).is_ok());
    }
}
