//! Integration tests: a real server on loopback over a fresh PostgreSQL database per test.

mod accounts;
mod binary;
mod browser;
mod gamedays;

mod helpers;
mod shell;
mod teams;
