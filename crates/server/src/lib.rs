//! The `sealroom` binary's library: configuration, start-up, TLS and the command-line tasks.
//! `testkit` uses [`serve::start`] to run the real server on port 0.
//!
//! Start-up refuses to run on an insecure or invalid configuration and says why; it never
//! prints a secret other than the one-time set-up link the operator needs.

/// Pin glibc's mmap threshold at its default, 128 KiB, which also turns off its dynamic
/// adjustment. Left dynamic, freeing one large buffer raises the threshold, and the buffers
/// that stream a file through the server are then carved from the heap and fragment it: the
/// resident memory of a fresh server grew by 78 MiB over one 4 GiB upload and download; pinned,
/// by 6 MiB (measured with bench/documents_fixture).
///
/// Also keep up to 4 MiB free at the top of each heap instead of 128 KiB: streaming frees and
/// allocates chunk buffers continuously, and at 128 KiB the heap was shrunk and grown again
/// so often that page faults took 7 % of the server's time during a download; at 4 MiB a
/// 1 GiB upload cost the server 1.45 s of CPU instead of 1.8 s, and a download 1.45 s instead
/// of 1.8 to 2.4 s, with the same peak memory (bench/documents_fixture, `perf`).
///
/// Call first thing in `main`, before any thread exists.
#[allow(unsafe_code)]
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets tuning parameters of the C allocator; it is called before
    // any other thread exists, and takes no pointer.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 4 * 1024 * 1024);
    }
}

pub mod cli;
pub mod config;
pub mod files;
pub mod keys;
pub mod serve;
pub mod tls;
