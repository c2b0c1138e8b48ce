//! The simulator, tested as its clients see it: over real HTTP.

mod helpers;

mod accounts;
mod binary;
mod catalogue;
mod droplets;
mod faults;
mod lifecycle;
mod rate_limits;
