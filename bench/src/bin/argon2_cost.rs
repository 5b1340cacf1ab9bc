//! argon2id time per hash at the configured parameters (defaults: m=19456 KiB, t=2, p=1),
//! compared in the same run with the reference `argon2` command-line tool (Debian package
//! `argon2`) at the same parameters, when it is installed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use sealroom_bench::stats;
use sealroom_crypto::password_hash::{HashCost, PasswordHasherArgon2};

const N: usize = 30;

fn main() {
    let cost = HashCost::default();
    let hasher = PasswordHasherArgon2::new(cost).unwrap();
    let _ = hasher.hash("warm up the allocator").unwrap();
    let ours: Vec<_> = (0..N)
        .map(|i| {
            let t = Instant::now();
            std::hint::black_box(
                hasher
                    .hash(&format!("correct horse battery staple {i}"))
                    .unwrap(),
            );
            t.elapsed()
        })
        .collect();
    let ours = stats(ours);
    println!(
        "parameters: argon2id m={} KiB t={} p={}",
        cost.memory_kib, cost.iterations, cost.parallelism
    );
    println!("Sealroom (RustCrypto argon2) hash: {ours}");
    let reference = Command::new("argon2").arg("--help").output();
    if reference.is_err() {
        println!("reference argon2 CLI not installed (apt-get install argon2); no comparison");
        return;
    }
    let cli: Vec<_> = (0..N)
        .map(|i| {
            let t = Instant::now();
            let mut child = Command::new("argon2")
                .args([
                    "saltsaltsaltsalt",
                    "-id",
                    "-t",
                    "2",
                    "-k",
                    "19456",
                    "-p",
                    "1",
                    "-r",
                ])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("correct horse battery staple {i}").as_bytes())
                .unwrap();
            assert!(child.wait().unwrap().success());
            t.elapsed()
        })
        .collect();
    let cli = stats(cli);
    println!("reference argon2 CLI (incl. process start): {cli}");
    println!(
        "ratio ours/reference (median): {:.2}",
        ours.median.as_secs_f64() / cli.median.as_secs_f64()
    );
}
