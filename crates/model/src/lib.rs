//! The shared vocabulary of Aviary: identifiers, validated domain types,
//! the Mastodon entities the public API returns, pagination cursors and the
//! event schema that components exchange over the bus.
//!
//! Nothing here performs I/O; every component depends on this crate and on
//! no other component's internals.
#![forbid(unsafe_code)]

pub mod domain;
pub mod entity;
pub mod event;
pub mod id;
pub mod page;
pub mod text;
pub mod time_fmt;

pub use domain::{DomainError, Email, Password, PostText, Scopes, Username, Visibility};
pub use event::{Envelope, Event};
pub use id::{Id, IdGenerator};
pub use page::{Page, PageDirection};
