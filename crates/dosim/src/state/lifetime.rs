//! What each billable resource did and when, kept so that usage can be worked out from the
//! simulator's state alone.
//!
//! DigitalOcean bills droplets from create to destroy whether on or off, volumes by size for as
//! long as they exist, snapshots by size, and reserved IPs while they are assigned to nothing.
//! So every resource keeps its creation time and a short history of the changes that move its
//! price (power, size, assignment), and a deleted resource leaves a [`Retired`] record behind.
//! A resource that never changes costs no history at all: 100,000 pre-created droplets carry an
//! empty `Vec` each. Nothing here computes money; that is [`crate::billing`]'s job.

use serde::Serialize;
use time::OffsetDateTime;

/// A droplet's backup plan (the spec's `backup_policy.plan`), which sets the backup surcharge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupPlan {
    Weekly,
    Daily,
}

impl BackupPlan {
    /// Reads a `backup_policy` object: its `plan`, `daily` when absent (the spec: "If omitted,
    /// the backup plan will default to daily").
    pub fn from_policy(
        policy: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> Result<Self, crate::error::DoError> {
        match policy.and_then(|p| p.get("plan")) {
            None => Ok(Self::Daily),
            Some(plan) if plan == "daily" => Ok(Self::Daily),
            Some(plan) if plan == "weekly" => Ok(Self::Weekly),
            Some(_) => {
                Err(crate::error::DoError::unprocessable("backup_policy.plan must be daily or weekly."))
            }
        }
    }
}

/// A change in a resource's life that can move what it costs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// A droplet's power went off (it is still billed; the record is for reports).
    PoweredOff,
    PoweredOn,
    /// A droplet went from one size to another.
    Resized {
        from: &'static str,
        to: &'static str,
    },
    /// A volume grew from `from_gib` to `gib`.
    Grown {
        from_gib: u64,
        gib: u64,
    },
    /// A droplet's backups were turned on or off, or their plan changed (`None`: no backups).
    Backups {
        from: Option<BackupPlan>,
        to: Option<BackupPlan>,
    },
    /// A volume or reserved IP is now attached or assigned to this droplet.
    Attached {
        droplet_id: u64,
    },
    /// ... and now to none.
    Detached,
}

/// The changes of one resource, oldest first, each with the moment it took effect.
pub type History = Vec<(OffsetDateTime, Change)>;

/// One entry of a history, as `/_sim/lifetimes` shows it.
#[derive(Serialize)]
pub struct Event<'a> {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    #[serde(flatten)]
    pub change: &'a Change,
}

/// What a resource was billed by when it was made (changes since are in its history).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// A droplet of this size slug.
    Size(&'static str),
    /// A volume of this many GiB.
    Gib(u64),
    /// A snapshot or image of this many hundredths of a GiB.
    CentiGib(u64),
    /// A reserved IPv4 address: billed only while unassigned.
    Address,
}

/// A deleted resource, as billing will need it (and `/_sim/lifetimes` shows it).
#[derive(Debug, Clone, Serialize)]
pub struct Retired {
    /// `droplet`, `volume`, `volume_snapshot`, `snapshot` (of a droplet), `image` or `reserved_ip`.
    pub kind: &'static str,
    pub id: String,
    pub name: String,
    pub region: String,
    pub measure: Measure,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub deleted_at: OffsetDateTime,
    #[serde(serialize_with = "events")]
    pub history: History,
    /// A droplet's backup plan when it was made (changes since are in its history).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backups: Option<BackupPlan>,
    /// The name of the project it was in when it was deleted (none for snapshots and images,
    /// which DigitalOcean keeps out of projects).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

/// A droplet's size when it was made: the first resize's `from`, or its size now.
pub fn size_at_creation(history: &History, now: &'static str) -> &'static str {
    history
        .iter()
        .find_map(|(_, change)| match change {
            Change::Resized { from, .. } => Some(*from),
            _ => None,
        })
        .unwrap_or(now)
}

/// A droplet's backup plan when it was made: the first backups change's `from`, or its plan now.
pub fn backups_at_creation(history: &History, now: Option<BackupPlan>) -> Option<BackupPlan> {
    history
        .iter()
        .find_map(|(_, change)| match change {
            Change::Backups { from, .. } => Some(*from),
            _ => None,
        })
        .unwrap_or(now)
}

/// A volume's size when it was made: the first growth's `from_gib`, or its size now.
pub fn gib_at_creation(history: &History, now: u64) -> u64 {
    history
        .iter()
        .find_map(|(_, change)| match change {
            Change::Grown { from_gib, .. } => Some(*from_gib),
            _ => None,
        })
        .unwrap_or(now)
}

fn events<S: serde::Serializer>(history: &History, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(history.iter().map(|(at, change)| Event { at: *at, change }))
}
