//! The HTTP/1 pass-through data plane, apart from the service runtime
//! (`platform`) and from the gateway's policy:
//!
//! * [`front`]: the fast path serving plain HTTP/1.1 requests a process
//!   claims, one loop per connection on per-core workers, handing every
//!   other request to hyper with the bytes already read;
//! * [`upstream`]: HTTP/1.1 to upstream instances over kept connections,
//!   with the I/O in the caller's task;
//! * [`route`], [`forward`] and [`pass`]: pass-through routes (`[[proxy]]`),
//!   forwarding one request to a route's pool, and the service serving them
//!   on hyper's path and on the fast path alike.
//!
//! The application plugs its policy in through [`pass::Hooks`] — admission
//! (identity, limits, load shedding), the time budget, and what an answer
//! carries — as pingora's `ProxyHttp` phases do; the gateway's hooks are in
//! `gateway::proxy`.
#![forbid(unsafe_code)]

pub mod forward;
pub mod front;
pub mod pass;
pub mod route;
pub mod upstream;

pub use forward::Asked;
pub use pass::{Hooks, PassThrough, PassThroughFront};
pub use route::{ProxyRoute, ProxyRouteConfig};
