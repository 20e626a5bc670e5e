//! The attack suite (`tests/attacks`, pytest): each test starts this
//! crate's `aviary` binary as a separate process and attacks it over
//! sockets — slow and silent clients, password floods with the process's
//! memory measured, forged headers, hostile OAuth input. See
//! docs/SECURITY.md for the threat model and which test covers which
//! defence.

use std::process::Command;

#[test]
fn the_attack_suite_passes() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let out = Command::new("python3")
        .args(["-m", "pytest", "tests/attacks", "-q", "-p", "no:cacheprovider", "-rA"])
        .current_dir(root)
        .env("AVIARY_BIN", env!("CARGO_BIN_EXE_aviary"))
        .output()
        .expect("python3 runs (install it and `pip install -r tests/clients/requirements.txt`)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "attack suite failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains("skipped") && !stdout.contains("SKIPPED"), "no attack test may be skipped:\n{stdout}");
}
