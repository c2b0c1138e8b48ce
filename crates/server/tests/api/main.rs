//! The Nephele server through its HTTP API, against dosim standing in for DigitalOcean.

mod helpers;
mod hostile;

mod auth;
mod bad_input;
mod caller_attacks;
mod contract;
mod costs;
mod dashboard;
mod fairness;
mod flood_attacks;
mod health;
mod idempotency;
mod inventory;
mod lifecycle;
mod operations_engine;
mod seed;
mod storage_floods;
mod upstream_attacks;
