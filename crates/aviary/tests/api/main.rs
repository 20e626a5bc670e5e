//! System tests: a real Aviary (in this process on port 0, or the binary as
//! a child process) driven over HTTP, by our client and by Mastodon.py.

mod bad_input;
mod clients;
mod idempotency;
mod isolation;
mod limits;
mod oauth;
mod ops;
mod restart;
mod timelines;

use testkit::System;

/// The aviary binary Cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_aviary");

/// The system under test, all-in-one or split as `AVIARY_TEST_MODE` says.
pub async fn start() -> System {
    System::start(std::path::Path::new(BIN)).await
}

pub async fn start_with(tweak: impl FnOnce(&mut aviary::config::Config)) -> System {
    System::start_with(std::path::Path::new(BIN), tweak).await
}
