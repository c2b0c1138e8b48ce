//! The Nephele server through its HTTP API, against dosim standing in for DigitalOcean.

mod helpers;
mod hostile;

mod auth;
mod bad_input;
mod caller_attacks;
mod cloud_figures;
mod contract;
mod costs;
mod dashboard;
mod fairness;
mod flood_attacks;
mod health;
mod hung_providers;
mod idempotency;
mod inventory;
mod lifecycle;
mod operations_engine;
mod render_cache;
mod seed;
mod slow_clients;
mod upstream_attacks;
