//! Chaos Toolkit in and out: its experiment and journal formats (JSON or YAML, as
//! chaostoolkit-lib reads and writes them) turned into a scenario's words, an agreed scenario
//! turned into an experiment that asks Gameday's gate before its fault, and a run's journal
//! turned into timeline entries. This floor is pure: reading and writing the documents.
//! - [`experiment`]: read an experiment, redact its credentials, describe it in words;
//! - [`export`]: write an agreed revision as an experiment guarded by the gate question;
//! - [`journal`]: read a run's journal into timeline entries and a proposed outcome;
//! - [`probes`]: the steady-state hypothesis's HTTP probes as health checks.

pub mod actions;
pub mod api;
pub mod experiment;
pub mod export;
pub mod journal;
pub mod pages;
pub mod probes;
pub mod routes;
pub mod store;

/// The largest request the upload forms and the API's imports take: a journal (the larger
/// document, [`journal::MAX_BYTES`]) with room for the form around it.
pub const UPLOAD_LIMIT_BYTES: usize = journal::MAX_BYTES + 64 * 1024;
