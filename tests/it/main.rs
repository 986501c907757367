//! Integration tests: a real server on loopback over a fresh PostgreSQL database per test.

mod accounts;
mod api;
mod api_guide;
mod api_plan;
mod api_reads;
mod api_run;
mod audit;
mod binary;
mod browser;
mod calendar;
mod chaostoolkit;
mod chaostoolkit_import;
mod copies;
mod gamedays;
mod healthchecks;
mod queries;
mod races;
mod retros;
mod rules;
mod schemathesis;
mod session_store;
mod sessions;
mod two_factor;

mod helpers;
mod limits;
mod live;
mod metrics;
mod outages;
mod paging;
mod shell;
mod teams;
mod weaknesses;
mod webhooks;
mod windows;
mod writes;
