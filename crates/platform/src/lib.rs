//! Machinery every Aviary process shares: the error envelope, telemetry
//! (logs and Prometheus metrics), the HTTP server kit with its standard
//! layers, the operational endpoints and shutdown.
#![forbid(unsafe_code)]

pub mod conn;
pub mod error;
pub mod listen;
pub mod metrics;
pub mod ops;
pub mod server;
pub mod telemetry;
pub mod tls;

pub use error::ApiError;
