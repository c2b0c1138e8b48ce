//! The simulator, tested as its clients see it: over real HTTP.

mod helpers;

mod accounts;
mod billing;
mod binary;
mod catalogue;
mod clock;
mod destroy;
mod droplets;
mod faults;
mod firewalls;
mod lifecycle;
mod lifetimes;
mod operations;
mod projects_tags;
mod rate_limits;
mod reserved_ips;
mod snapshots;
mod volumes;
mod vpcs;
