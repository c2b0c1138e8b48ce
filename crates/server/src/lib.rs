//! Nephele's HTTP face: one REST API (v1) over every configured cloud account, its OpenAPI
//! document, and the dashboard.
//!
//! A thin shell over [`nephele_engine::Engine`]: handlers parse requests into typed values, call
//! the engine and write its answers. [`App::build`] starts an engine from a [`Config`], binds the
//! listener and builds the router; `run` serves until told to stop, then stops the engine.

pub mod api;
mod app;
pub mod auth;
pub mod dashboard;
pub mod listener;

pub use app::{App, AppError, AppState};
pub use nephele_engine::{Config, ConfigError};
