//! What every route of the JSON API (`/api/v1`) shares: the caller behind a bearer token, the
//! team it reaches, scope checks, and errors as `application/problem+json` (RFC 9457).
//!
//! The API takes a token in `Authorization: Bearer` and nothing else: its router has no session
//! layers, so a cookie is never read there, and a request with a cookie alone is answered 401
//! like any request without a token (no cross-site form can reach an API action). A token is
//! found by the id written into it and compared with its stored hash in constant time; revoked,
//! expired, unknown and malformed tokens all get the same 401. The person behind it is checked as
//! the pages check them: a team they are not a member of (or not the token's) is a 404, a team
//! whose two-factor rule they do not meet a 403; scopes only ever narrow what the role allows.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use uuid::Uuid;

use super::context::admitted;
use crate::accounts::User;
use crate::error::{AppError, ErrorDetail, retry_after};
use crate::events::{ViaToken, through_api};
use crate::form::FieldErrors;
use crate::gamedays::{Gameday, store as gameday_store};
use crate::ids::GamedayId;
use crate::state::{AppState, RateDecision};
use crate::teams::{Membership, check_not_archived, parse_slug, store as team_store};
use crate::tokens::{Scope, TokenState, store as token_store, token_id, token_state};

/// Where the JSON API lives; its OpenAPI description is at `{API_BASE}/openapi.json`.
pub const API_BASE: &str = "/api/v1";

/// The media type of every error the API answers.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A field's error in a problem's `errors` list (a 422).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

/// An error as the API answers it: RFC 9457 members (`type`, `title`, `status`, `detail`) and a
/// machine-readable `code`, with `errors` beside the fields for a 422.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"type": "about:blank", "title": "Not Found", "status": 404, "code": "not_found", "detail": "The page you asked for does not exist, or you do not have access to it."}))]
pub struct Problem {
    /// Always `about:blank`: `title` is the HTTP status's phrase, `code` says more.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    pub status: u16,
    /// What went wrong, for machines: `unauthorized`, `forbidden`, `not_found`, `conflict`,
    /// `invalid`, `rate_limited`, `unavailable`, …
    pub code: &'static str,
    /// What went wrong and what to do, for people (the pages' message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For a 422: each field's message.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

/// The refusals every operation may answer, as problem documents.
#[derive(utoipa::IntoResponses)]
pub enum Refusals {
    /// The address cannot be read (a NUL character in it, for one).
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// No token, or one that is unknown, revoked or expired.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// The token's person may not do this here, or the token lacks the scope for it.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// No such thing in the token's team (or not the token's team: the same answer).
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// The token made more requests than its rate allows; try again after `Retry-After` seconds.
    #[response(status = 429, content_type = "application/problem+json",
               headers(("retry-after" = u64, description = "Seconds until the token may ask again.")))]
    TooManyRequests(Problem),
    /// The database cannot serve right now; try again after `Retry-After` seconds.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

/// A query or body that was not accepted, each field's message in `errors`.
#[derive(utoipa::IntoResponses)]
pub enum Invalid {
    #[response(status = 422, content_type = "application/problem+json")]
    Invalid(Problem),
}

/// A change the rules refuse in the state things are in (the pages' message in `detail`).
#[derive(utoipa::IntoResponses)]
pub enum Conflict {
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(Problem),
}

/// The description of the API as a whole; each feature's `api.rs` adds its operations.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Gameday API",
        version = "1",
        description = "Drive a chaos-engineering game day from scripts, pipelines and chaos tools. Every call takes a personal access token (`Authorization: Bearer gdt_…`, made under Account › API tokens in the pages) and acts as its person, in its team, within its scopes. Errors are `application/problem+json` (RFC 9457)."
    ),
    modifiers(&BearerToken),
    components(schemas(Problem, FieldProblem)),
    security(("token" = [])),
    tags(
        (name = "Tokens", description = "The token a request comes with."),
        (name = "Teams", description = "The token's team."),
        (name = "Game days", description = "Game days of the token's team."),
        (name = "Scenarios", description = "A game day's scenarios: read, plan, ask the gate, run."),
        (name = "Chaos Toolkit", description = "Import an experiment as a scenario, export an agreed one that asks the gate before its fault, bring a run's journal onto the timeline."),
        (name = "Health checks", description = "The team's health checks, and the checks that guard a scenario with their results."),
        (name = "Timeline", description = "A game day's timeline: read it, follow it live, log observations."),
        (name = "Retrospectives", description = "Retrospectives of the team's completed game days."),
        (name = "Learnings", description = "The team's learnings library."),
        (name = "Weaknesses and incidents", description = "The team's known weaknesses and past incidents."),
    )
)]
pub struct ApiDoc;

/// Declares the bearer token every operation takes.
struct BearerToken;

impl utoipa::Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A personal access token, `gdt_…`, from Account › API tokens."))
                    .build(),
            ),
        );
    }
}

impl Problem {
    /// A problem with a status and what to say; `code` names it for machines.
    pub fn new(status: StatusCode, code: &'static str, detail: Option<String>) -> Problem {
        Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            code,
            detail,
            errors: Vec::new(),
        }
    }

    /// The machine-readable code of a bare status (an error the framework or a layer answered).
    pub fn code_of(status: StatusCode) -> &'static str {
        match status.as_u16() {
            400 => "bad_request",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not_found",
            405 => "method_not_allowed",
            406 => "not_acceptable",
            408 => "timeout",
            409 => "conflict",
            410 => "gone",
            413 => "too_large",
            415 => "unsupported_media_type",
            422 => "invalid",
            429 => "rate_limited",
            503 => "unavailable",
            504 => "timeout",
            s if s >= 500 => "internal",
            _ => "error",
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response =
            (status, [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))], body).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            let (name, value) = retry_after();
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// Why a request was refused, as the API answers it.
#[derive(Debug)]
pub enum ApiError {
    /// 401: no token, or one that does not work (`presented`: a token was sent).
    Unauthorized { presented: bool },
    /// The errors every handler shares, with the pages' messages.
    App(AppError),
    /// 422 with several fields' messages.
    Fields(FieldErrors),
    /// 413: a body larger than the route takes.
    TooLarge,
}

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        ApiError::App(err)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        ApiError::App(err.into())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::TooLarge;
        }
        ApiError::App(AppError::invalid(crate::form::FORM, rejection.body_text()))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Unauthorized { presented } => {
                let detail = if presented {
                    "This token does not work: it is unknown, revoked or expired. Make a new one under Account › API tokens."
                } else {
                    "The API takes a personal access token, sent as `Authorization: Bearer <token>` (never a cookie). Make one under Account › API tokens."
                };
                let mut response =
                    Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", Some(detail.into())).into_response();
                let challenge = if presented {
                    "Bearer realm=\"gameday\", error=\"invalid_token\""
                } else {
                    "Bearer realm=\"gameday\""
                };
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
                response
            }
            ApiError::TooLarge => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                Some("The body is larger than this operation takes.".into()),
            )
            .into_response(),
            ApiError::Fields(errors) => {
                let mut problem = Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid",
                    Some("Some fields were not accepted; see `errors`.".into()),
                );
                problem.errors = errors
                    .iter()
                    .map(|(field, message)| FieldProblem { field: field.to_owned(), message: message.to_owned() })
                    .collect();
                problem.into_response()
            }
            ApiError::App(err) => {
                let mut problem_errors = Vec::new();
                if let AppError::Validation { field, message } = &err {
                    problem_errors.push(FieldProblem { field: (*field).to_owned(), message: message.clone() });
                }
                // The pages' error path logs what it must (a 500's cause, a 503's) and keeps the
                // message a person may read; the problem carries the same message.
                let response = err.into_response();
                let detail = response.extensions().get::<ErrorDetail>().map(|d| d.0.clone());
                // (An internal error that is the database being unavailable answers 503.)
                let status = response.status();
                let mut problem = Problem::new(status, Problem::code_of(status), detail);
                problem.errors = problem_errors;
                problem.into_response()
            }
        }
    }
}

/// The person a valid token belongs to, and the token.
#[derive(Debug, Clone)]
pub struct ApiCaller {
    pub user: User,
    pub token: TokenInfo,
}

/// What the API knows of the token a request came with.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub id: Uuid,
    pub name: String,
    pub team_id: Uuid,
    pub scopes: Vec<Scope>,
    pub expires_at: time::OffsetDateTime,
}

impl ApiCaller {
    /// 403 unless the token has `scope` (its person's role is checked besides, by the action).
    pub fn require(&self, scope: Scope, doing: &str) -> ApiResult<()> {
        if self.token.scopes.contains(&scope) {
            return Ok(());
        }
        let held: Vec<&str> = self.token.scopes.iter().map(Scope::as_str).collect();
        Err(AppError::Forbidden(format!(
            "This token may {}; {doing} needs a token with the {} scope.",
            held.join(", "),
            scope.as_str()
        ))
        .into())
    }
}

/// The bearer token of a request: None without an `Authorization` header; an error for one that
/// is not a bearer token.
fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().map_err(|_| ApiError::Unauthorized { presented: true })?;
    let (scheme, token) = value.split_once(' ').ok_or(ApiError::Unauthorized { presented: true })?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::Unauthorized { presented: true });
    }
    Ok(Some(token.trim()))
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(caller) = parts.extensions.get::<ApiCaller>() {
            return Ok(caller.clone());
        }
        let token = bearer(parts)?.ok_or(ApiError::Unauthorized { presented: false })?;
        let invalid = ApiError::Unauthorized { presented: true };
        let id = token_id(token).ok_or(invalid)?;
        // A database that cannot answer is noted for /readyz by the one conversion of its error.
        let found = token_store::for_auth(&state.db, id).await?;
        let Some(found) = found else { return Err(ApiError::Unauthorized { presented: true }) };
        if !crate::secrets::matches(token, &found.secret_hash) {
            return Err(ApiError::Unauthorized { presented: true });
        }
        if !found.member
            || token_state(found.revoked_at, found.expires_at, time::OffsetDateTime::now_utc()) != TokenState::Active
        {
            return Err(ApiError::Unauthorized { presented: true });
        }
        if found.touch_due {
            token_store::touch(&state.db, found.id).await?;
        }
        let caller = ApiCaller {
            user: found.user,
            token: TokenInfo {
                id: found.id,
                name: found.name,
                team_id: found.team_id,
                scopes: found.scopes,
                expires_at: found.expires_at,
            },
        };
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// 201 Created with `body` as JSON and `Location: {API_BASE}{path}` (the new thing's address).
pub fn created(path: &str, body: impl serde::Serialize) -> Response {
    let mut response = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("{API_BASE}{path}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// A JSON request body; one that is not JSON, or not of the expected shape, is a 422 problem
/// saying what was wrong (serde's words: the field and the line and column).
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<T>::from_request(request, state).await?;
        Ok(ApiJson(value))
    }
}

/// The draft standard's headers (`draft-ietf-httpapi-ratelimit-headers`): the policy, and what is
/// left of it with the seconds until it is whole again.
static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Every API operation's way in (a route layer of the API router): the token (401 without one
/// that works), its rate on this instance (429 beyond it, with `Retry-After`), then the handler,
/// every event it records marked as coming through this token (`events::through_api`). Answers
/// carry the rate headers and `Cache-Control: no-store` (they are one person's, and current).
pub async fn admit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let mut response = match ApiCaller::from_request_parts(&mut parts, &state).await {
        Err(err) => err.into_response(),
        Ok(caller) => {
            let limit = state.api_rate.per_minute;
            let (mut response, remaining, reset) = match state.api_rate.check(caller.token.id) {
                RateDecision::Refused { retry_after } => {
                    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                    let detail = format!(
                        "This token made more than {limit} requests in a minute on this server. Try again in {secs} s."
                    );
                    let mut response =
                        Problem::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", Some(detail)).into_response();
                    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
                    // Whole again once every request has come back: the next one, then the rest.
                    let whole = retry_after.as_secs_f64() + f64::from(limit - 1) * 60.0 / f64::from(limit);
                    (response, 0, whole.ceil() as u64)
                }
                RateDecision::Allowed { remaining } => {
                    let via = ViaToken { token_id: caller.token.id, token_name: caller.token.name.clone() };
                    let response = through_api(via, next.run(Request::from_parts(parts, body))).await;
                    // Whole again once the spent requests have come back, one every 60 s / limit.
                    let spent = u64::from(limit.saturating_sub(remaining));
                    (response, remaining, (spent * 60).div_ceil(u64::from(limit)))
                }
            };
            let headers = response.headers_mut();
            if let Ok(value) = HeaderValue::from_str(&format!("\"token\";q={limit};w=60")) {
                headers.insert(RATELIMIT_POLICY.clone(), value);
            }
            if let Ok(value) = HeaderValue::from_str(&format!("\"token\";r={remaining};t={reset}")) {
                headers.insert(RATELIMIT.clone(), value);
            }
            response
        }
    };
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A team path (`/api/v1/teams/{slug}/…`) as the token's person reaches it: the token's own team,
/// of which they are still a member (else 404, as for a team that does not exist).
#[derive(Debug, Clone)]
pub struct ApiTeam {
    pub caller: ApiCaller,
    pub membership: Membership,
}

#[derive(serde::Deserialize)]
struct TeamPath {
    slug: String,
}

impl FromRequestParts<AppState> for ApiTeam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = ApiCaller::from_request_parts(parts, state).await?;
        let super::context::Path(TeamPath { slug }) =
            super::context::Path::<TeamPath>::from_request_parts(parts, state).await?;
        // The token's team first: any other team is a 404 whatever its rules, so a token cannot
        // tell which other teams its person is in.
        if parse_slug(&slug).is_err() {
            return Err(AppError::NotFound.into());
        }
        let membership = team_store::membership(&state.db, &slug, caller.user.id)
            .await?
            .filter(|m| m.team.id == caller.token.team_id)
            .ok_or(AppError::NotFound)?;
        let membership = admitted(membership, &caller.user)?;
        // An archived team is read-only, as in the pages: any change is a 409 before its handler.
        if !parts.method.is_safe() {
            check_not_archived(membership.archived_at).map_err(AppError::Conflict)?;
        }
        Ok(ApiTeam { caller, membership })
    }
}

/// The path parameters of a team's operations, as the description states them.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TeamParams {
    /// The team's URL name.
    #[param(example = "platform")]
    pub slug: String,
}

/// The path parameters of a game day's operations.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct GamedayParams {
    /// The team's URL name.
    #[param(example = "platform")]
    pub slug: String,
    /// The game day's id.
    pub id: Uuid,
}

/// The path parameters of a scenario's operations.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ScenarioParams {
    /// The team's URL name.
    #[param(example = "platform")]
    pub slug: String,
    /// The game day's id.
    pub id: Uuid,
    /// The scenario's id.
    pub sid: Uuid,
}

/// A game day path (`/api/v1/teams/{slug}/gamedays/{id}/…`) as the token's person reaches it:
/// the game day must be the team's (else 404).
pub struct ApiGameday {
    pub team: ApiTeam,
    pub gameday: Gameday,
}

#[derive(serde::Deserialize)]
struct GamedayPath {
    id: GamedayId,
}

impl FromRequestParts<AppState> for ApiGameday {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let team = ApiTeam::from_request_parts(parts, state).await?;
        let super::context::Path(GamedayPath { id }) =
            super::context::Path::<GamedayPath>::from_request_parts(parts, state).await?;
        let gameday = gameday_store::gameday_in_team(&state.db, team.membership.team.id, id.0)
            .await?
            .ok_or(AppError::NotFound)?;
        Ok(ApiGameday { team, gameday })
    }
}

/// The page of a list an API request asks for: `limit` (1 to [`Paging::MAX`], [`Paging::DEFAULT`]
/// unless given) items before the item `before` (its id), newest first.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub limit: i64,
    pub before: Option<Uuid>,
}

impl Paging {
    pub const DEFAULT: i64 = 50;
    pub const MAX: i64 = 100;

    /// The `Link` header to the next page, when this one came back full (its last item's id).
    pub fn next_link(&self, path: &str, returned: usize, last: Option<Uuid>) -> Option<HeaderValue> {
        let last = last.filter(|_| returned as i64 >= self.limit)?;
        HeaderValue::from_str(&format!("<{path}?before={last}&limit={}>; rel=\"next\"", self.limit)).ok()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Paging {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut paging = Paging { limit: Paging::DEFAULT, before: None };
        let mut errors = FieldErrors::new();
        for (key, value) in form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()) {
            match key.as_ref() {
                "limit" => match value.parse::<i64>() {
                    Ok(n) if (1..=Paging::MAX).contains(&n) => paging.limit = n,
                    _ => errors.add("limit", format!("limit is a whole number from 1 to {}.", Paging::MAX)),
                },
                "before" => match Uuid::try_parse(&value) {
                    Ok(id) => paging.before = Some(id),
                    Err(_) => errors.add("before", "before is the id of the last item of the page before."),
                },
                _ => {}
            }
        }
        if errors.is_empty() { Ok(paging) } else { Err(ApiError::Fields(errors)) }
    }
}

/// The API reference page (`/api/docs`): the OpenAPI description read for people, rendered on the
/// server from the same document (no script, no external assets).
#[derive(askama::Template)]
#[template(path = "api/docs.html")]
pub struct DocsPage {
    pub layout: super::Layout,
    /// Where people reach this server, for the examples.
    pub base_url: String,
    pub title: String,
    /// Sanitised HTML, from the description's Markdown.
    pub description: String,
    /// The description's tags, in its order: the index groups operations by them.
    pub tags: Vec<DocTag>,
    pub operations: Vec<DocOperation>,
    pub schemas: Vec<DocSchema>,
}

/// A group of operations (the description's tag).
#[derive(Debug, Clone)]
pub struct DocTag {
    pub name: String,
    pub description: String,
}

/// One operation as the reference shows it.
#[derive(Debug, Clone)]
pub struct DocOperation {
    /// Its group (the first tag).
    pub tag: String,
    pub method: String,
    pub path: String,
    pub anchor: String,
    pub summary: String,
    /// Sanitised HTML, from the description's Markdown.
    pub description: String,
    pub parameters: Vec<DocField>,
    pub responses: Vec<DocResponse>,
    /// The success answer's example, pretty-printed.
    pub example: Option<String>,
}

/// A parameter or a schema's property.
#[derive(Debug, Clone)]
pub struct DocField {
    pub name: String,
    /// Where (path, query) for a parameter; the type for a property.
    pub kind: String,
    pub required: bool,
    pub description: String,
}

#[derive(Debug, Clone)]
pub struct DocResponse {
    pub status: String,
    pub description: String,
    pub media: String,
}

#[derive(Debug, Clone)]
pub struct DocSchema {
    pub name: String,
    pub description: String,
    pub fields: Vec<DocField>,
}

fn text(value: &serde_json::Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// A schema's type as a person reads it: `string (uuid)`, `array of GamedaySummary`, `Scope`.
fn type_name(schema: &serde_json::Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        return reference.rsplit('/').next().unwrap_or(reference).to_owned();
    }
    if let Some(any) = schema["oneOf"].as_array().or_else(|| schema["anyOf"].as_array()) {
        let names: Vec<String> = any.iter().map(type_name).filter(|n| n != "null").collect();
        return format!("{} or null", names.join(" or "));
    }
    let kind = match &schema["type"] {
        serde_json::Value::Array(kinds) => {
            kinds.iter().filter_map(|k| k.as_str()).filter(|k| *k != "null").collect::<Vec<_>>().join(" or ")
                + " or null"
        }
        other => other.as_str().unwrap_or("object").to_owned(),
    };
    if kind.starts_with("array") {
        return format!("array of {}", type_name(&schema["items"]));
    }
    match schema["format"].as_str() {
        Some(format) => format!("{kind} ({format})"),
        None => kind,
    }
}

impl DocsPage {
    /// Reads the description (as JSON) into the page.
    pub fn new(layout: super::Layout, base_url: String, doc: &serde_json::Value) -> DocsPage {
        let mut operations = Vec::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let parameters = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| DocField {
                        name: text(&p["name"]),
                        kind: format!("{}, {}", text(&p["in"]), type_name(&p["schema"])),
                        required: p["required"].as_bool().unwrap_or(false),
                        description: text(&p["description"]),
                    })
                    .collect();
                let mut example = None;
                let responses = op["responses"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(status, r)| {
                        let media = r["content"].as_object().and_then(|c| c.keys().next().cloned()).unwrap_or_default();
                        let sample = &r["content"][&media]["example"];
                        if status.starts_with('2') && !sample.is_null() {
                            example = serde_json::to_string_pretty(sample).ok();
                        }
                        DocResponse { status: status.clone(), description: text(&r["description"]), media }
                    })
                    .collect();
                operations.push(DocOperation {
                    tag: op["tags"][0].as_str().unwrap_or_default().to_owned(),
                    method: method.to_uppercase(),
                    path: path.clone(),
                    anchor: text(&op["operationId"]),
                    summary: text(&op["summary"]),
                    description: crate::markdown::to_safe_html(&text(&op["description"])),
                    parameters,
                    responses,
                    example,
                });
            }
        }
        let schemas = doc["components"]["schemas"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, schema)| {
                let required: Vec<&str> =
                    schema["required"].as_array().into_iter().flatten().filter_map(|r| r.as_str()).collect();
                let mut description = text(&schema["description"]);
                if let Some(values) = schema["enum"].as_array() {
                    let values: Vec<&str> = values.iter().filter_map(|v| v.as_str()).collect();
                    description = format!("{description} One of: {}.", values.join(", ")).trim().to_owned();
                }
                DocSchema {
                    name: name.clone(),
                    description,
                    fields: schema["properties"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(field, p)| DocField {
                            name: field.clone(),
                            kind: type_name(p),
                            required: required.contains(&field.as_str()),
                            description: text(&p["description"]),
                        })
                        .collect(),
                }
            })
            .collect();
        let tags: Vec<DocTag> = doc["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| DocTag { name: text(&t["name"]), description: text(&t["description"]) })
            .filter(|t| operations.iter().any(|op| op.tag == t.name))
            .collect();
        // In the groups' order, each group's operations by path.
        let position = |tag: &str| tags.iter().position(|t| t.name == tag).unwrap_or(usize::MAX);
        operations.sort_by(|a, b| (position(&a.tag), &a.path).cmp(&(position(&b.tag), &b.path)));
        DocsPage {
            layout,
            base_url,
            tags,
            title: text(&doc["info"]["title"]),
            description: crate::markdown::to_safe_html(&text(&doc["info"]["description"])),
            operations,
            schemas,
        }
    }
}
