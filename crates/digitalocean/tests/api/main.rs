//! The DigitalOcean provider, tested end to end over HTTP against the `dosim` simulator.

mod helpers;

mod errors;
mod faults;
mod listing;
mod operations;
mod rate_limits;
mod secrets;
