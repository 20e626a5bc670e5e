//! System tests: a real Aviary (in this process on port 0, or the binary as
//! a child process) driven over HTTP, by our client and by Mastodon.py.

mod bad_input;
mod clients;
mod idempotency;
mod isolation;
mod oauth;
mod ops;
mod restart;
mod timelines;
