//! Compatibility with unmodified client libraries.

use std::process::Command;

/// Runs `tests/clients` (pytest + Mastodon.py from PyPI) against a fresh
/// server. A missing Python package fails the test: it is never skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mastodon_py_client_passes_its_suite() {
    let server = crate::start().await;
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let base = server.base();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args(["-m", "pytest", "tests/clients", "-q", "-p", "no:cacheprovider"])
            .current_dir(root)
            .env("AVIARY_URL", base)
            .output()
            .expect("python3 runs (install it and `pip install -r tests/clients/requirements.txt`)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "Mastodon.py suite failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains("skipped"), "no client test may be skipped:\n{stdout}");
    server.stop().await;
}
