//! The end-to-end suite: one test binary, modules per area. Every test that touches storage
//! runs against SQLite and PostgreSQL (see `both_backends!`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// Generate a `sqlite` and a `postgres` test for each async fn taking a `Backend`.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(sealroom_testkit::Backend::Sqlite).await }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(sealroom_testkit::Backend::Postgres).await }
            )*
        }
    };
}

mod access;
mod api;
mod audit;
mod documents;
mod fhir;
mod http_basics;
mod journeys;
mod messaging;
mod notifications;
mod outside_recipients;
mod patient_space;
mod provisioning;
mod release;
mod sessions;
mod signin;
mod slips;
mod store_conformance;
mod throttling;
