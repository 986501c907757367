//! The timeline through the API: read it a page at a time (`?after=<seq>`), follow it live
//! (Server-Sent Events with the pages' ids and `Last-Event-ID` resume), and log observations and
//! corrections (`observe` scope) through the same actions as the pages.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::actions::{self, ObservationForm};
use super::store;
use super::views::ApiEvent;
use crate::error::AppError;
use crate::form::FieldErrors;
use crate::gamedays::store as gameday_store;
use crate::live::{ApiStreamFor, api_stream};
use crate::state::AppState;
use crate::tokens::Scope;
use crate::web::api::{ApiError, ApiGameday, ApiJson, ApiResult, Conflict, GamedayParams, Invalid, Refusals};
use crate::web::context::Path;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(timeline))
        .routes(routes!(events))
        .routes(routes!(observe))
        .routes(routes!(correct))
}

/// A page of the timeline: the events after `after`, oldest first.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// The sequence number of the last event already read (0, or none, for the start).
    #[param(minimum = 0)]
    after: Option<i64>,
    /// How many, 1 to 500 (100 unless given).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

const TIMELINE_MAX: i64 = 500;
const TIMELINE_DEFAULT: i64 = 100;

fn event_example() -> serde_json::Value {
    serde_json::json!({"seq": 12, "at": "2026-12-01T10:14:03Z", "observed_at": null, "kind": "observation", "actor_id": "0190f1c2-7f3a-7c4e-9a51-0123456789ab", "actor_name": "Ana", "scenario_id": "0190f1c2-7f3a-7c4e-9a51-0123456789c1", "scenario_title": "Kill one checkout pod", "body": "The alert fired after 40 s.", "marker": "detection", "link": null, "corrects": null, "via_token": "CI pipeline"})
}

/// The game day's timeline.
///
/// Oldest first, after the event `after` (its sequence number). While a page comes back full, a
/// `Link: <…>; rel="next"` header gives the next; to follow the day as it happens, use the live
/// stream (`…/events`) instead of asking again.
#[utoipa::path(
    get,
    path = "/teams/{slug}/gamedays/{id}/timeline",
    tag = "Timeline",
    operation_id = "timeline",
    params(
        GamedayParams,
        TimelineQuery,
    ),
    responses(
        (status = 200, description = "A page of events.", body = Vec<ApiEvent>,
         headers(("link" = String, description = "The next page, while this one is full.")),
         example = json!([event_example()])),
        Invalid,
        Refusals
    )
)]
async fn timeline(
    State(state): State<AppState>,
    ctx: ApiGameday,
    query: Result<Query<TimelineQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let mut errors = FieldErrors::new();
    let (after, limit) = match query {
        Ok(Query(q)) => {
            let after = q.after.unwrap_or(0);
            let limit = q.limit.unwrap_or(TIMELINE_DEFAULT);
            if after < 0 {
                errors.add("after", "after is the sequence number of the last event read, from 0.");
            }
            if !(1..=TIMELINE_MAX).contains(&limit) {
                errors.add("limit", format!("limit is a whole number from 1 to {TIMELINE_MAX}."));
            }
            (after, limit)
        }
        Err(_) => {
            errors.add("after", "after and limit are whole numbers.");
            (0, 0)
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Fields(errors));
    }
    let events = store::events_after_limited(&state.db, ctx.gameday.id, after, limit).await?;
    let next = events.last().filter(|_| events.len() as i64 == limit).map(|e| e.seq);
    let body: Vec<ApiEvent> = events.iter().map(ApiEvent::from).collect();
    let mut response = Json(body).into_response();
    if let Some(last) = next {
        let link = format!(
            "</api/v1/teams/{}/gamedays/{}/timeline?after={last}&limit={limit}>; rel=\"next\"",
            ctx.team.membership.team.slug, ctx.gameday.id
        );
        if let Ok(link) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, link);
        }
    }
    Ok(response)
}

/// Where a live stream starts.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Start after this event (its sequence number); without it (or `Last-Event-ID`), from now.
    #[param(minimum = 0)]
    after: Option<i64>,
}

/// One message of the live stream.
#[derive(Serialize, ToSchema)]
pub struct StreamMessage {
    /// The event's sequence number (send it back as `Last-Event-ID` to resume after it).
    pub id: String,
    /// Absent for events (a stream closed for a newer one of its person's says `superseded`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// The event as JSON (the `ApiEvent` schema).
    #[schema(content_media_type = "application/json")]
    pub data: String,
}

/// The game day, live.
///
/// Server-Sent Events (`text/event-stream`): each message's `id` is the event's sequence number
/// (the same as the pages' stream) and its `data` the event as JSON (the `ApiEvent` schema).
/// Reconnect with `Last-Event-ID` (or `?after=`) to be sent exactly what was missed. Comment lines
/// keep the connection alive; the stream ends when the token stops working.
#[utoipa::path(
    get,
    path = "/teams/{slug}/gamedays/{id}/events",
    tag = "Timeline",
    operation_id = "timeline_stream",
    params(
        GamedayParams,
        ("last-event-id" = Option<i64>, Header, nullable = false, description = "The last event received, to resume after it.", minimum = 0),
        StreamQuery,
    ),
    responses(
        (status = 200, description = "The stream: each message's `data` is an event.", content_type = "text/event-stream", body = StreamMessage,
         example = json!({"id": "12", "data": event_example().to_string()})),
        Invalid,
        Refusals
    )
)]
async fn events(
    State(state): State<AppState>,
    ctx: ApiGameday,
    query: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let invalid = |field: &'static str| -> ApiError {
        AppError::invalid(field, format!("{field} is the sequence number of the last event read, from 0.")).into()
    };
    let asked = match query {
        Ok(Query(StreamQuery { after: Some(n) })) if n < 0 => return Err(invalid("after")),
        Ok(Query(q)) => q.after,
        Err(_) => return Err(invalid("after")),
    };
    // A client that reconnects says where it was; a malformed id is refused, not ignored.
    let last_event_id = match headers.get("last-event-id").map(|v| v.to_str().map(|v| v.trim().parse::<i64>())) {
        None => None,
        Some(Ok(Ok(n))) if n >= 0 => Some(n),
        Some(_) => return Err(invalid("last-event-id")),
    };
    let to = ApiStreamFor {
        gameday_id: ctx.gameday.id,
        base: format!("/teams/{}/gamedays/{}", ctx.team.membership.team.slug, ctx.gameday.id),
        user_id: ctx.team.caller.user.id,
        token_id: ctx.team.caller.token.id,
    };
    Ok(api_stream(&state, to, last_event_id.or(asked)).await?)
}

/// An observation as the API takes it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ObservationBody {
    /// What was seen (Markdown, up to 4,000 characters).
    body: String,
    /// The scenario it is about.
    scenario: Option<Uuid>,
    /// `detection`, `diagnosis`, `repair`, `key_moment` or `question`: markers time the scenario.
    marker: Option<String>,
    /// When it was seen, if earlier than now (RFC 3339; not in the future, within 30 days).
    observed_at: Option<String>,
    /// A dashboard or log link (http or https).
    link: Option<String>,
}

/// A new event's place.
#[derive(Serialize, ToSchema)]
pub struct Logged {
    /// Its sequence number on the timeline.
    pub seq: i64,
}

/// Logs an observation.
///
/// Needs the `observe` scope; anyone on the game day may, from when it is scheduled until after
/// it ended. The checks are the pages' (a marker's time must fit the scenario's injection).
#[utoipa::path(
    post,
    path = "/teams/{slug}/gamedays/{id}/observations",
    tag = "Timeline",
    operation_id = "observe",
    params(
        GamedayParams,
    ),
    request_body(content = ObservationBody, example = json!({"body": "The alert fired after 40 s.", "scenario": "0190f1c2-7f3a-7c4e-9a51-0123456789c1", "marker": "detection"})),
    responses(
        (status = 201, description = "Logged.", body = Logged, example = json!({"seq": 12})),
        Invalid,
        Conflict,
        Refusals
    )
)]
async fn observe(
    State(state): State<AppState>,
    ctx: ApiGameday,
    ApiJson(body): ApiJson<ObservationBody>,
) -> ApiResult<Response> {
    let caller = &ctx.team.caller;
    caller.require(Scope::Observe, "logging an observation")?;
    let mut errors = FieldErrors::new();
    let observed_at = match body.observed_at.as_deref().map(str::trim) {
        None | Some("") => String::new(),
        Some(at) => crate::tz::rfc3339_as_utc_input(at).unwrap_or_else(|message| {
            errors.add("observed_at", message);
            String::new()
        }),
    };
    // The pages' form and its checks, with the time in UTC.
    let form = ObservationForm {
        body: body.body,
        scenario: body.scenario.map(|s| s.to_string()).unwrap_or_default(),
        marker: body.marker.unwrap_or_default(),
        observed_at,
        link: body.link.unwrap_or_default(),
    };
    let observation = form.parse("UTC", time::OffsetDateTime::now_utc(), &mut errors);
    let Some(observation) = observation.filter(|_| errors.is_empty()) else { return Err(ApiError::Fields(errors)) };
    let role = gameday_store::participant_role(&state.db, ctx.gameday.id, caller.user.id).await?;
    let seq = actions::observe(&state.db, ctx.gameday.id, &caller.user, role, &observation).await?;
    Ok((StatusCode::CREATED, Json(Logged { seq })).into_response())
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CorrectionBody {
    /// What the observation should have said (Markdown, up to 4,000 characters).
    body: String,
}

#[derive(Deserialize)]
struct SeqPath {
    seq: i64,
}

/// Corrects an observation.
///
/// Needs the `observe` scope; the observation's author or a facilitator may. The observation
/// stays as it was, marked corrected; the correction is a new event pointing at it.
#[utoipa::path(
    post,
    path = "/teams/{slug}/gamedays/{id}/timeline/{seq}/corrections",
    tag = "Timeline",
    operation_id = "correct",
    params(
        GamedayParams,
        ("seq" = i64, Path, description = "The sequence number of the observation to correct."),
    ),
    request_body(content = CorrectionBody, example = json!({"body": "The alert fired after 55 s, not 40 s."})),
    responses(
        (status = 201, description = "Logged.", body = Logged, example = json!({"seq": 13})),
        Invalid,
        Conflict,
        Refusals
    )
)]
async fn correct(
    State(state): State<AppState>,
    ctx: ApiGameday,
    Path(SeqPath { seq }): Path<SeqPath>,
    ApiJson(body): ApiJson<CorrectionBody>,
) -> ApiResult<Response> {
    let caller = &ctx.team.caller;
    caller.require(Scope::Observe, "correcting an observation")?;
    let text = super::correction_body(&body.body).map_err(AppError::of_field("body"))?;
    let new = actions::correct(&state.db, ctx.gameday.id, &caller.user, seq, &text).await?;
    Ok((StatusCode::CREATED, Json(Logged { seq: new })).into_response())
}
