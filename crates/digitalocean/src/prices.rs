//! What DigitalOcean charges for resources other than droplets: one table, each figure with
//! where it comes from, when it was read and how sure it is (`shared/facts-resources.md`,
//! compiled 2026-12-02 from stored copies of DigitalOcean's pages and public notes quoting them).
//!
//! Prices change: this table is the only place they are written. It never prices droplets
//! (those come live from `/v2/sizes`).

use nephele_core::{Billable, Grade, PriceUnit, ResourceKind, ResourcePrice};
use rust_decimal::Decimal;

/// When the figures below were read.
const AS_OF: &str = "2026-12-02";

struct Row {
    kind: ResourceKind,
    unit: PriceUnit,
    amount: Decimal,
    billable: Billable,
    grade: Grade,
    source: &'static str,
}

const TABLE: [Row; 6] = [
    // Volumes: $0.10 per GiB-month, attached or not ("You are charged for volumes whether or not
    // they are attached to a Droplet"). Secondary: public notes quoting the pricing page; the
    // page itself was not read.
    Row {
        kind: ResourceKind::Volume,
        unit: PriceUnit::GibMonth,
        amount: Decimal::from_parts(10, 0, 0, false, 2),
        billable: Billable::Always,
        grade: Grade::Secondary,
        source: "docs.digitalocean.com/products/volumes/details/pricing/ as quoted by public notes (primary page not read)",
    },
    // Droplet and volume snapshots: $0.06 per GiB-month of billed size (minimum charge $0.01,
    // not modelled). Primary: DigitalOcean's snapshot pricing page.
    Row {
        kind: ResourceKind::Snapshot,
        unit: PriceUnit::GibMonth,
        amount: Decimal::from_parts(6, 0, 0, false, 2),
        billable: Billable::Always,
        grade: Grade::Primary,
        source: "docs.digitalocean.com/products/images/snapshots/details/pricing/",
    },
    // Reserved IPv4: $5.00 a month while assigned to nothing; assigned ones are free (primary,
    // docs .../reserved-ips/how-to/modify/, 2025-06-17). The amount is secondary: DigitalOcean's
    // "Reserved IP pricing" (last verified 2025-06-25) as quoted in a public repository.
    Row {
        kind: ResourceKind::ReservedIp,
        unit: PriceUnit::Month,
        amount: Decimal::from_parts(500, 0, 0, false, 2),
        billable: Billable::Unassigned,
        grade: Grade::Secondary,
        source: "DigitalOcean Reserved IP pricing (verified 2025-06-25) as quoted by public notes; free when assigned per docs.digitalocean.com/products/networking/reserved-ips/how-to/modify/",
    },
    // Cloud firewalls are "provided at no additional cost" (primary, firewall concepts page).
    Row {
        kind: ResourceKind::Firewall,
        unit: PriceUnit::Month,
        amount: Decimal::ZERO,
        billable: Billable::Always,
        grade: Grade::Primary,
        source: "docs.digitalocean.com/products/networking/firewalls/concepts/ (\"no additional cost\")",
    },
    // VPCs: no charge is listed and their traffic is not counted, but no page says "free".
    Row {
        kind: ResourceKind::Vpc,
        unit: PriceUnit::Month,
        amount: Decimal::ZERO,
        billable: Billable::Always,
        grade: Grade::Assumed,
        source: "docs.digitalocean.com/products/networking/vpc/reference/ lists no charge; an explicit statement was not found",
    },
    // SSH keys: an account setting, never billed; no page states a price.
    Row {
        kind: ResourceKind::SshKey,
        unit: PriceUnit::Month,
        amount: Decimal::ZERO,
        billable: Billable::Always,
        grade: Grade::Assumed,
        source: "no DigitalOcean page prices SSH keys; assumed free",
    },
];

/// The table as the cost engine reads it.
pub fn resource_prices() -> Vec<ResourcePrice> {
    TABLE
        .iter()
        .map(|row| ResourcePrice {
            kind: row.kind,
            region: None,
            variant: None,
            unit: row.unit,
            amount: row.amount,
            billable: row.billable,
            currency: "USD".to_owned(),
            source: row.source.to_owned(),
            as_of: AS_OF.to_owned(),
            grade: row.grade,
        })
        .collect()
}
