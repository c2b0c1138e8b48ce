//! The Nephele server through its HTTP API, against dosim standing in for DigitalOcean.

mod helpers;
mod hostile;
/// The CLI suite's PostgreSQL helper, shared so one race runs on both backends here.
#[path = "../../../cli/tests/cli/postgres.rs"]
mod postgres;

mod accounts;
mod auth;
mod bad_input;
mod budgets;
mod caller_attacks;
mod caller_secrets;
mod cloud_figures;
mod contract;
mod costs;
mod dashboard;
mod events;
mod fairness;
mod flood_attacks;
mod health;
mod hosts_and_headers;
mod hung_providers;
mod idempotency;
mod inventory;
mod lifecycle;
mod operations_engine;
mod render_cache;
mod resources;
mod revocation;
mod seed;
mod slow_clients;
mod spend;
mod storage_floods;
mod upstream_attacks;
mod webhooks;
