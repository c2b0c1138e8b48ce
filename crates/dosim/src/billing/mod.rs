//! Usage as DigitalOcean bills it, worked out from an account's own state: every resource's
//! lifetime (live ones in the world, deleted ones in its retired records) cut into calendar
//! months (UTC) and priced by [`rules`].
//!
//! An account's usage for a month is a list of [`Item`]s, one per resource and price (a droplet
//! that was resized has one per size), each with its exact amount. What invoices, the balance
//! and the billing history show is built from these (see [`crate::render`]): rounded to cents
//! only there, each shown amount the rounding of the exact sum behind it. Nothing here changes
//! the world, reads a clock (the caller says what "now" is) or rounds.
//!
//! Every instant is taken at whole-second precision, truncated, as the API shows it; a change
//! recorded before the one it follows (a power change lands after its transition) counts from
//! the later of the two.

pub mod rules;
mod usage;

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use time::{Date, Month as CalendarMonth, OffsetDateTime, Time};

use crate::state::World;
pub use usage::{month_items, month_total, month_totals};

/// One calendar month in UTC, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    pub year: i32,
    pub month: CalendarMonth,
}

impl Month {
    /// The month `t` is in (in UTC).
    pub fn containing(t: OffsetDateTime) -> Self {
        let t = t.to_offset(time::UtcOffset::UTC);
        Self { year: t.year(), month: t.month() }
    }

    /// Its first moment.
    pub fn start(self) -> OffsetDateTime {
        let date = Date::from_calendar_date(self.year, self.month, 1).unwrap_or(Date::MIN);
        date.with_time(Time::MIDNIGHT).assume_utc()
    }

    /// The first moment of the month after it.
    pub fn end(self) -> OffsetDateTime {
        self.next().start()
    }

    pub fn next(self) -> Self {
        match self.month {
            CalendarMonth::December => Self { year: self.year + 1, month: CalendarMonth::January },
            month => Self { year: self.year, month: month.next() },
        }
    }

    pub fn previous(self) -> Self {
        match self.month {
            CalendarMonth::January => Self { year: self.year - 1, month: CalendarMonth::December },
            month => Self { year: self.year, month: month.previous() },
        }
    }

    /// `YYYY-MM`, the spec's `invoice_period`.
    pub fn period(self) -> String {
        format!("{:04}-{:02}", self.year, u8::from(self.month))
    }

    /// `May 2018`, as in the spec's "Invoice for May 2018".
    pub fn name(self) -> String {
        format!("{} {}", self.month, self.year)
    }

    /// `[start, end)` in Unix seconds.
    fn seconds(self) -> (i64, i64) {
        (self.start().unix_timestamp(), self.end().unix_timestamp())
    }

    /// Months since the year 0: consecutive months have consecutive indexes.
    fn index(self) -> i64 {
        i64::from(self.year) * 12 + i64::from(u8::from(self.month)) - 1
    }

    fn from_index(index: i64) -> Self {
        let month = u8::try_from(index.rem_euclid(12) + 1).unwrap_or(1);
        Self {
            year: i32::try_from(index.div_euclid(12)).unwrap_or_default(),
            month: CalendarMonth::try_from(month).unwrap_or(CalendarMonth::January),
        }
    }
}

/// What an invoice item is for, in DigitalOcean's product words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Product {
    Droplets,
    Backups,
    Volumes,
    Snapshots,
    ReservedIps,
}

impl Product {
    pub fn name(self) -> &'static str {
        match self {
            Self::Droplets => "Droplets",
            Self::Backups => "Backups",
            Self::Volumes => "Volumes",
            Self::Snapshots => "Snapshots",
            Self::ReservedIps => "Reserved IPs",
        }
    }
}

/// The unit of an item's `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    /// Started hours (droplets before 2026 and GPU droplets).
    Hours,
}

impl Unit {
    pub fn name(self) -> &'static str {
        match self {
            Self::Seconds => "Seconds",
            Self::Hours => "Hours",
        }
    }
}

/// One line of a month's usage: a resource at one price.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub product: Product,
    /// The numeric id of a droplet or droplet snapshot, or a reserved IP's address.
    pub resource_id: Option<String>,
    /// A volume's or volume snapshot's uuid; for a droplet, a uuid derived from its id.
    pub resource_uuid: Option<String>,
    pub description: String,
    /// Exact, in USD.
    pub amount: Decimal,
    pub duration: i64,
    pub unit: Unit,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    pub project_name: Option<String>,
}

/// The exact sum of `items`.
pub fn total(items: &[Item]) -> Decimal {
    items.iter().map(|i| i.amount).sum()
}

/// The exact total of each product in `items`, with how many items make it.
pub fn by_product(items: &[Item]) -> BTreeMap<Product, (Decimal, usize)> {
    let mut out: BTreeMap<Product, (Decimal, usize)> = BTreeMap::new();
    for item in items {
        let entry = out.entry(item.product).or_default();
        entry.0 += item.amount;
        entry.1 += 1;
    }
    out
}

/// The months an account has been invoiced for as of `now`: from the month it was opened to the
/// one before `now`'s, newest first. Invoices "are generated on the first of each month".
pub fn closed_months(world: &World, now: OffsetDateTime) -> Vec<Month> {
    let first = Month::containing(world.opened_at);
    let mut month = Month::containing(now);
    let mut out = Vec::new();
    while month > first {
        month = month.previous();
        out.push(month);
    }
    out
}

/// An invoice's identity: stable for the account and month, so that the preview's uuid becomes
/// the invoice's when the month closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceId {
    pub uuid: String,
    /// Nine digits, like the number on the face of DigitalOcean's invoice PDFs.
    pub number: String,
}

/// 64-bit FNV-1a of the account uuid and the period, seeded, then mixed (SplitMix64's finaliser)
/// so that neighbouring months do not get look-alike uuids.
fn fnv(seed: u64, account_uuid: &str, period: &str) -> u64 {
    let mut hash = seed;
    for b in account_uuid.bytes().chain([b'/']).chain(period.bytes()) {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

pub fn invoice_id(account_uuid: &str, month: Month) -> InvoiceId {
    let period = month.period();
    let high = fnv(0xcbf2_9ce4_8422_2325, account_uuid, &period);
    let low = fnv(0x8422_2325_cbf2_9ce4, account_uuid, &period);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&high.to_be_bytes());
    bytes[8..].copy_from_slice(&low.to_be_bytes());
    InvoiceId {
        uuid: uuid::Builder::from_random_bytes(bytes).into_uuid().to_string(),
        number: format!("{:09}", high % 1_000_000_000),
    }
}

/// Which month an invoice uuid names for this account as of `now`: `preview` or the current
/// month's uuid is this month; a closed month's uuid is that month. Anything else names none.
pub fn month_of_invoice(world: &World, account_uuid: &str, uuid: &str, now: OffsetDateTime) -> Option<Month> {
    let current = Month::containing(now);
    if uuid == "preview" || invoice_id(account_uuid, current).uuid == uuid {
        return Some(current);
    }
    closed_months(world, now).into_iter().find(|m| invoice_id(account_uuid, *m).uuid == uuid)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn months_run_from_their_first_second_to_the_next_ones() {
        let december = Month::containing(datetime!(2025-12-31 23:59:59 UTC));
        assert_eq!(december.start(), datetime!(2025-12-01 00:00 UTC));
        assert_eq!(december.end(), datetime!(2026-01-01 00:00 UTC));
        assert_eq!(december.next().period(), "2026-01");
        assert_eq!(december.next().previous(), december);
        assert_eq!(december.name(), "December 2025");
        assert_eq!(Month::containing(datetime!(2026-03-01 00:00 +01:00)).period(), "2026-02");
    }

    #[test]
    fn invoice_ids_are_stable_per_account_and_month_and_differ_otherwise() {
        let march = Month::containing(datetime!(2026-03-10 00:00 UTC));
        let a = invoice_id("account-a", march);
        assert_eq!(a, invoice_id("account-a", march));
        assert_ne!(a.uuid, invoice_id("account-b", march).uuid);
        assert_ne!(a.uuid, invoice_id("account-a", march.next()).uuid);
        assert_eq!(a.number.len(), 9);
        assert!(uuid::Uuid::parse_str(&a.uuid).is_ok());
    }
}
