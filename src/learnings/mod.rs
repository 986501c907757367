//! Learnings and action items: what a game day taught, searchable across all of a team's game
//! days, and what follows from it, with an owner and a due date.

pub mod actions;
pub mod api;
pub mod routes;
pub mod store;
pub mod views;

use serde::Deserialize;
use time::Date;
use uuid::Uuid;

use crate::error::AppError;
use crate::form::FieldErrors;
use crate::gamedays::{GamedayRole, GamedayStatus, multiline, parse_link};
use crate::retros::RetroStatus;

/// An action is overdue when it is still open on a day after its due date
/// (the SQL function `is_overdue` is the same rule).
pub fn is_overdue(status: ActionStatus, due_on: Option<Date>, today: Date) -> bool {
    status == ActionStatus::Open && due_on.is_some_and(|due| due < today)
}

/// What a retrospective records beside its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// A learning: anyone on the game day adds one.
    Learning,
    /// A follow-up action: facilitators assign them.
    Action,
}

/// Whether `role` may add a learning or an action to the retrospective of a game day in
/// `gameday` status whose retrospective is `retro`: only once completed (409), only people on
/// it, and for actions only facilitators (403), and not once published (409: addenda then).
pub fn check_can_record(
    what: Record,
    gameday: GamedayStatus,
    role: Option<GamedayRole>,
    retro: RetroStatus,
) -> Result<(), AppError> {
    crate::retros::open(gameday)?;
    match what {
        Record::Learning if role.is_none() => {
            return Err(AppError::Forbidden("People on the game day record its learnings.".into()));
        }
        Record::Action if role != Some(GamedayRole::Facilitator) => {
            return Err(AppError::Forbidden("Facilitators assign the actions that follow a game day.".into()));
        }
        _ => {}
    }
    if retro == RetroStatus::Published {
        return Err(AppError::Conflict(
            "The retrospective is published and read-only: add a dated addendum instead.".into(),
        ));
    }
    Ok(())
}

/// Tags: lowercase words of letters, digits and hyphens, comma-separated, ten at most.
pub fn parse_tags(input: &str) -> Result<Vec<String>, String> {
    let mut tags: Vec<String> = Vec::new();
    for raw in input.split(',') {
        let tag = raw.trim().to_lowercase().replace(' ', "-");
        if tag.is_empty() {
            continue;
        }
        if tag.chars().count() > 30 || !tag.chars().all(|c| c.is_alphanumeric() || c == '-') {
            return Err(format!("\"{}\" is not a tag: use letters, digits and hyphens, up to 30.", raw.trim()));
        }
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > 10 {
        return Err("Ten tags at most.".into());
    }
    Ok(tags)
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct LearningForm {
    pub statement: String,
    pub tags: String,
    pub scenario: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewLearning {
    pub statement: String,
    pub tags: Vec<String>,
    pub scenario: Option<Uuid>,
}

impl LearningForm {
    pub fn parse(&self, errors: &mut FieldErrors) -> Option<NewLearning> {
        let statement = errors.check("statement", multiline(&self.statement, "The learning", 1, 2000));
        let tags = errors.check("tags", parse_tags(&self.tags));
        let scenario = match self.scenario.trim() {
            "" => Some(None),
            id => errors.check(
                "scenario",
                Uuid::parse_str(id).map(Some).map_err(|_| "Choose a scenario from the list.".into()),
            ),
        };
        Some(NewLearning { statement: statement?, tags: tags?, scenario: scenario? })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, Deserialize)]
#[sqlx(type_name = "action_status", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    Open,
    Done,
    WontDo,
}

impl ActionStatus {
    pub const ALL: [ActionStatus; 3] = [ActionStatus::Open, ActionStatus::Done, ActionStatus::WontDo];

    pub fn as_str(&self) -> &'static str {
        match self {
            ActionStatus::Open => "open",
            ActionStatus::Done => "done",
            ActionStatus::WontDo => "wont_do",
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            ActionStatus::Open => "Open",
            ActionStatus::Done => "Done",
            ActionStatus::WontDo => "Won't do",
        }
    }

    pub fn parse(input: &str) -> Result<ActionStatus, String> {
        ActionStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == input)
            .ok_or_else(|| "Choose open, done or won't do.".into())
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct ActionForm {
    pub title: String,
    pub owner: String,
    pub due_on: String,
    pub link: String,
    /// A later game day in which to re-test (optional).
    pub retest: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewAction {
    pub title: String,
    pub owner: Uuid,
    pub due_on: Option<Date>,
    pub link: Option<String>,
    pub retest: Option<Uuid>,
}

impl ActionForm {
    /// Validates; the owner must be one of `members`, the re-test game day one of `open_gamedays`.
    pub fn parse(&self, members: &[Uuid], open_gamedays: &[Uuid], errors: &mut FieldErrors) -> Option<NewAction> {
        let title = errors.check("title", crate::form::bounded_text(&self.title, "The action", 1, 200));
        let owner = match Uuid::parse_str(self.owner.trim()) {
            Ok(id) if members.contains(&id) => Some(id),
            _ => {
                errors.add("owner", "Choose an owner from the team.");
                None
            }
        };
        let due_on = if self.due_on.trim().is_empty() {
            Some(None)
        } else {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            errors.check(
                "due_on",
                Date::parse(self.due_on.trim(), &format).map(Some).map_err(|_| "Enter a date like 2026-12-31.".into()),
            )
        };
        let link = errors.check("link", parse_link(&self.link, "The link"));
        let retest = match self.retest.trim() {
            "" => Some(None),
            id => match Uuid::parse_str(id) {
                Ok(id) if open_gamedays.contains(&id) => Some(Some(id)),
                _ => {
                    errors.add("retest", "Choose one of the team's game days that are still to come.");
                    None
                }
            },
        };
        Some(NewAction { title: title?, owner: owner?, due_on: due_on?, link: link?, retest: retest? })
    }
}

/// What the library searches for, from what was typed: the text trimmed, at most 200 characters
/// and without control characters; the tag trimmed and lowercase (the page and the API alike).
pub fn search_terms(q: &str, tag: &str) -> (String, String) {
    (q.trim().chars().take(200).filter(|c| !c.is_control()).collect(), tag.trim().to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_normalised_and_checked() {
        assert_eq!(
            parse_tags(" Database, failover ,database, Read Replica").unwrap(),
            vec!["database", "failover", "read-replica"]
        );
        assert!(parse_tags("<script>").is_err());
        assert_eq!(parse_tags("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn an_action_needs_a_title_a_team_owner_and_a_real_date() {
        let owner = Uuid::new_v4();
        let form = ActionForm {
            title: "Alert on replica lag".into(),
            owner: owner.to_string(),
            due_on: "2026-02-30".into(),
            ..Default::default()
        };
        let mut errors = FieldErrors::new();
        assert!(form.parse(&[owner], &[], &mut errors).is_none());
        assert!(errors.get("due_on").is_some());
        let form = ActionForm { due_on: "2026-12-31".into(), ..form };
        let mut errors = FieldErrors::new();
        assert!(form.parse(&[Uuid::new_v4()], &[], &mut errors).is_none(), "not a team member");
        let mut errors = FieldErrors::new();
        assert!(form.parse(&[owner], &[], &mut errors).is_some());
        let later = ActionForm { retest: Uuid::new_v4().to_string(), ..form };
        let mut errors = FieldErrors::new();
        assert!(later.parse(&[owner], &[], &mut errors).is_none(), "not one of the team's open game days");
    }
}
