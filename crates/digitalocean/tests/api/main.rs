//! The DigitalOcean provider, tested end to end over HTTP against the `dosim` simulator.

mod helpers;

mod errors;
mod faults;
mod listing;
mod lossy;
mod operations;
mod rate_limits;
mod resources;
mod resources_once;
mod resources_refused;
mod secrets;
