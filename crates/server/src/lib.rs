//! Nephele's server: one REST API (v1) over every configured cloud provider.
//!
//! [`App::build`] turns a [`Config`] into a bound listener and a router; `run` serves it. The
//! server talks to clouds only through `dyn Provider`; the one place that names a concrete
//! provider is [`providers::build`].

pub mod api;
mod app;
pub mod auth;
pub mod catalog_cache;
pub mod config;
pub mod dashboard;
mod digest;
mod housekeeping;
pub mod inventory;
pub mod listener;
mod metrics;
pub mod operations;
pub mod plugins;
pub mod providers;
pub mod readiness;
pub mod store;

pub use app::{App, AppError, AppState};
pub use config::{Config, ConfigError};
