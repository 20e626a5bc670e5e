//! Machinery every Aviary process shares: the error envelope, telemetry
//! (logs and Prometheus metrics), the HTTP server kit with its standard
//! layers, the operational endpoints, shutdown, and the internal RPC
//! transport components use to call each other in split mode.
#![forbid(unsafe_code)]

pub mod error;
pub mod front;
pub mod metrics;
pub mod ops;
pub mod pool;
pub mod rpc;
pub mod server;
pub mod telemetry;
pub mod tls;
pub mod trace;
pub mod upstream;

pub use error::ApiError;
