//! Nephele's engine: everything that is not HTTP.
//!
//! Accounts and their sealed credentials, the providers built from them, the inventory, the
//! operations engine, costs, events and the store live here; `nephele-server` is a thin HTTP
//! shell over it. This crate never names axum, utoipa or maud: the compiler keeps the line
//! between engine and web, because the engine does not depend on them.

pub mod secrets;
