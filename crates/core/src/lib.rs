//! Nephele's provider-neutral domain model.
//!
//! Everything the rest of Nephele says about clouds is said in these types: instances and their
//! normalised status, the catalogue (regions, instance types, images), operations, the error
//! vocabulary shared by all providers, and the [`Provider`] trait every cloud implements.
//!
//! This crate must never do I/O or name HTTP or database types: it is the language, not the
//! plumbing. Every type here is serialisable so that a provider could one day live behind a
//! process boundary.

pub mod account;
pub mod accrual;
pub mod bill;
pub mod catalog;
pub mod code;
pub mod cost;
pub mod duration;
pub mod endpoint;
pub mod error;
pub mod instance;
pub mod money;
pub mod operation;
pub mod pricing;
pub mod provider;
pub mod resource;
pub mod secret;

pub use account::{AccountName, is_valid_account_name};
pub use catalog::{Image, InstanceType, Region, RegionalPrice};
pub use code::ErrorCode;
pub use cost::{BackupPlan, BillingPolicy, CostError, CostEstimate, CostQuery};
pub use duration::BillingDuration;
pub use error::{ProviderError, RetryAfter};
pub use instance::{
    CreateInstances, Instance, InstanceFilter, InstanceId, InstanceName, InstanceNameError, InstanceStatus,
    MAX_USER_DATA_BYTES, PowerAction, is_valid_tag,
};
pub use operation::{ActionId, ActionStatus, OperationId, ProviderAction};
pub use pricing::{Billable, Grade, PriceUnit, ResourcePrice};
pub use provider::{Provider, ProviderInfo};
pub use resource::{
    ActionStarted, AssociatedResources, CreateResource, Firewall, FirewallRule, Ports, Protocol, ReservedIp,
    Resource, ResourceAction, ResourceId, ResourceKind, ResourceName, RuleTargets, Snapshot,
    SnapshotSourceKind, SnapshotStatus, SshKey, Volume, VolumeStatus, Vpc, VpcMember,
};
pub use secret::{REDACTED, Secret, redact, scrub_bytes, upstream_text};
