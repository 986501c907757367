//! Gameday: run chaos-engineering game days as a team. Every fault is written down,
//! agreed at its exact wording, and announced before it is injected.
//!
//! Modules are layered, and imports point down only (`tests/layers.rs` checks it; see
//! `docs/architecture.md`): the ground floor (`config`, `db`, `error`, `form`, `ids`, `markdown`,
//! `oidc`, `tz`, `state`, `hub`) → each feature's domain (`<feature>/mod.rs`) → its SQL (`store.rs`) →
//! `events` → its state changes (`actions.rs`) → its partials (`views.rs`) → `web` and `live` →
//! its handlers (`routes.rs`) → `app`, which assembles them.

pub mod accounts;
pub mod app;
pub mod audit;
pub mod calendar;
pub mod chaostoolkit;
pub mod config;
pub mod db;
pub mod demo;
pub mod email;
pub mod error;
pub mod events;
pub mod form;
pub mod gamedays;
pub mod healthchecks;
pub mod home;
pub mod hub;
pub mod ids;
pub mod learnings;
pub mod live;
pub mod markdown;
pub mod oidc;
pub mod retros;
pub mod scenarios;
pub mod secrets;
pub mod state;
pub mod teams;
pub mod timeline;
pub mod tokens;
pub mod tz;
pub mod weaknesses;
pub mod web;
pub mod webhooks;
