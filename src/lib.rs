//! Gameday: run chaos-engineering game days as a team. Every fault is written down,
//! agreed at its exact wording, and announced before it is injected.

pub mod accounts;
pub mod app;
pub mod calendar;
pub mod config;
pub mod db;
pub mod error;
pub mod form;
pub mod gamedays;
pub mod home;
pub mod learnings;
pub mod live;
pub mod markdown;
pub mod retros;
pub mod scenarios;
pub mod teams;
pub mod timeline;
pub mod tz;
pub mod weaknesses;
pub mod web;
pub mod webhooks;
