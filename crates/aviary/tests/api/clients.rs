//! Compatibility with unmodified client libraries, and with a browser.

use std::process::Command;

/// Runs the pytest suite in `dir` against a fresh server. A missing Python
/// package or browser fails the test: it is never skipped.
async fn passes(dir: &'static str, rate_limits: bool) {
    let server = crate::start_with(|c| {
        c.rate_limits.enabled = rate_limits;
        // A poll that ends within the suite's time.
        c.instance.polls.min_expiration_secs = 1;
    })
    .await;
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let base = server.base();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args(["-m", "pytest", dir, "-q", "-p", "no:cacheprovider"])
            .current_dir(root)
            .env("AVIARY_URL", base)
            .output()
            .expect("python3 runs (install it and `pip install -r tests/clients/requirements.txt`)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{dir} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains("skipped"), "no test of {dir} may be skipped:\n{stdout}");
    server.stop().await;
}

/// `tests/clients`: pytest + Mastodon.py from PyPI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mastodon_py_client_passes_its_suite() {
    passes("tests/clients", false).await;
}

/// `tests/browser`: headless Chromium on another origin (CORS, OAuth with
/// PKCE, `Link` and rate-limit headers read by a page). Rate limits are on,
/// as in production, so their headers are there to read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_client_on_another_origin_works() {
    passes("tests/browser", true).await;
}
