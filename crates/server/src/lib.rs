//! The `sealroom` binary's library: configuration, start-up, TLS and the command-line tasks.
//! `testkit` uses [`serve::start`] to run the real server on port 0.
//!
//! Start-up refuses to run on an insecure or invalid configuration and says why; it never
//! prints a secret other than the one-time set-up link the operator needs.

pub mod cli;
pub mod config;
pub mod files;
pub mod keys;
pub mod serve;
pub mod tls;
