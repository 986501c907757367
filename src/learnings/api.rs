//! The team's learnings library through the API: `GET /api/v1/teams/{slug}/learnings`, searched
//! as the library page searches it (full text, best match first, and by tag), a page at a time.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::store::{self, Learning};
use crate::state::AppState;
use crate::web::api::{ApiResult, ApiTeam, Invalid, Paging, Refusals, TeamParams};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search))
}

/// A learning as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct LearningView {
    pub id: Uuid,
    pub statement: String,
    pub tags: Vec<String>,
    /// The game day that taught it.
    pub gameday_id: Option<Uuid>,
    pub gameday_title: Option<String>,
    /// The scenario it came from, if it names one.
    pub scenario_title: Option<String>,
    pub author: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Learning> for LearningView {
    fn from(l: Learning) -> Self {
        LearningView {
            id: l.id,
            statement: l.statement,
            tags: l.tags,
            gameday_id: l.gameday_id,
            gameday_title: l.gameday_title,
            scenario_title: l.scenario_title,
            author: l.author,
            created_at: l.created_at,
        }
    }
}

/// What to search for (`q`, `tag`), read as the library page reads them: the text trimmed, at
/// most 200 characters and without control characters; the tag trimmed and lowercase.
struct Terms {
    q: String,
    tag: String,
}

impl Terms {
    fn of(parts: &Parts) -> Terms {
        let (mut q, mut tag) = (String::new(), String::new());
        for (key, value) in form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()) {
            match key.as_ref() {
                "q" => q = super::search_terms(&value, "").0,
                "tag" => tag = super::search_terms("", &value).1,
                _ => {}
            }
        }
        Terms { q, tag }
    }

    /// The terms as a query string (empty when there are none).
    fn query(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if !self.q.is_empty() {
            query.append_pair("q", &self.q);
        }
        if !self.tag.is_empty() {
            query.append_pair("tag", &self.tag);
        }
        query.finish()
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Terms {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Terms::of(parts))
    }
}

/// Searches the team's learnings.
///
/// Those matching `q` (full text, best match first) and tagged `tag`; all of them, newest first,
/// when neither is given. A page at a time: while a page comes back full, a `Link: <…>;
/// rel="next"` header gives the next, with the same search.
#[utoipa::path(
    get,
    path = "/teams/{slug}/learnings",
    tag = "Learnings",
    operation_id = "search_learnings",
    params(
        TeamParams,
        ("q" = Option<String>, Query, description = "Words to find (web search syntax: `\"a phrase\"`, `or`, `-word`); up to 200 characters are read (no NUL).", example = "failover", pattern = "^[^\\x00]*$"),
        ("tag" = Option<String>, Query, description = "Only learnings with this tag.", example = "database", pattern = "^[^\\x00]*$"),
        ("limit" = Option<i64>, Query, description = "How many, 1 to 100 (50 unless given).", minimum = 1, maximum = 100),
        ("before" = Option<Uuid>, Query, description = "The id of the last learning of the page before."),
    ),
    responses(
        (status = 200, description = "A page of learnings.", body = Vec<LearningView>,
         headers(("link" = String, description = "The next page, while this one is full.")),
         example = json!([{"id": "0190f1c2-7f3a-7c4e-9a51-0123456789b1", "statement": "Replica promotion takes 40 seconds; checkout retries must cover it.", "tags": ["database", "failover"], "gameday_id": "0190f1c2-7f3a-7c4e-9a51-0123456789ae", "gameday_title": "Database failover drill", "scenario_title": "Stop the primary", "author": "Li", "created_at": "2026-12-01T14:20:00Z"}])),
        Invalid,
        Refusals
    )
)]
async fn search(State(state): State<AppState>, ctx: ApiTeam, paging: Paging, terms: Terms) -> ApiResult<Response> {
    let team = &ctx.membership.team;
    let rows = store::search(&state.db, team.id, &terms.q, &terms.tag, paging.before, paging.limit).await?;
    let link = paging
        .next_link(&format!("/api/v1/teams/{}/learnings", team.slug), rows.len(), rows.last().map(|l| l.id))
        .and_then(|link| with_terms(link, &terms.query()));
    let mut response = Json(rows.into_iter().map(LearningView::from).collect::<Vec<_>>()).into_response();
    if let Some(link) = link {
        response.headers_mut().insert(axum::http::header::LINK, link);
    }
    Ok(response)
}

/// The `Link` to the next page with the search's terms added to its query (`Paging::next_link`
/// writes `<path?before=…&limit=…>; rel="next"`).
fn with_terms(link: HeaderValue, terms: &str) -> Option<HeaderValue> {
    if terms.is_empty() {
        return Some(link);
    }
    let link = link.to_str().ok()?.replacen(">;", &format!("&{terms}>;"), 1);
    HeaderValue::from_str(&link).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_page_keeps_the_search() {
        let link = HeaderValue::from_static("</api/v1/teams/p/learnings?before=x&limit=2>; rel=\"next\"");
        let terms = Terms { q: "fail over".into(), tag: "db".into() };
        let link = with_terms(link, &terms.query()).unwrap();
        assert_eq!(link, "</api/v1/teams/p/learnings?before=x&limit=2&q=fail+over&tag=db>; rel=\"next\"");
    }
}
