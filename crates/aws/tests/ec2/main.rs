//! The EC2 provider's resource kinds through the `Provider` trait, against moto on a free port:
//! the volume story of issue 21 (a volume attached, snapshotted, detached, grown, its instance
//! deleted, and what is left priced), snapshots of instances, security groups as firewalls,
//! key pairs in creates, VPCs and their members, exactly-once creates (retried, and with an
//! answer lost by a proxy), refusals before any change, and the capabilities and prices.
//!
//! Where moto differs from EC2 the test says so; what moto does not allow testing is named in
//! the module that would have tested it.

mod exactly_once;
mod firewalls;
mod keys;
mod story;
mod support;
mod validation;
mod vpcs;
