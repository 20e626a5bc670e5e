//! The HTTP/1 pass-through data plane, apart from the service runtime
//! (`platform`) and from the gateway's policy:
//!
//! * [`front`]: the fast path serving plain HTTP/1.1 requests a process
//!   claims, one loop per connection on per-core workers, handing every
//!   other request to hyper with the bytes already read;
//! * [`upstream`]: HTTP/1.1 to upstream instances over kept connections,
//!   with the I/O in the caller's task.
//!
//! The gateway's pass-through routes (`gateway::proxy`) plug into the
//! front through [`front::Front`] (which paths it claims, and the answer to
//! each claimed request) and use the upstream client to forward.
#![forbid(unsafe_code)]

pub mod front;
pub mod upstream;
