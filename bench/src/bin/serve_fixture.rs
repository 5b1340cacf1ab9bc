//! Serves the benchmark fixture and prints its URL and a session cookie, for load tools such as
//! wrk. Stops on SIGINT (`kill -INT`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sealroom_bench::Fixture;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let f = Fixture::start().await;
    println!("URL={}", f.base);
    println!("PORT={}", f.running.local_addr.port());
    println!("COOKIE={}", f.cookie());
    let (cert, _) = sealroom_server::tls::self_signed_paths(&f.config.data_dir);
    println!("CERT={}", cert.display());
    println!("READY");
    let _ = tokio::signal::ctrl_c().await;
}
