//! Integration tests: a real server on loopback over a fresh PostgreSQL database per test.

mod accounts;
mod browser;

mod helpers;
mod shell;
mod teams;
