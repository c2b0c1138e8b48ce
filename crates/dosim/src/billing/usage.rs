//! One calendar month of an account's usage: each resource's lifetime cut to the month (and to
//! "now"), split where its price changed, and priced by [`super::rules`].
//!
//! Pricing works on [`Charge`]s, which carry no strings, so that a month's total over 100,000
//! droplets costs no allocation per droplet; labels (names, ids, projects) are attached only
//! when items are listed. This module reads the world and never changes it.

use rust_decimal::Decimal;
use time::OffsetDateTime;

use super::rules::{self, Metering};
use super::{Item, Month, Product, Unit};
use crate::catalog::{self, SizeSpec};
use crate::state::World;
use crate::state::lifetime::{
    BackupPlan, Change, Measure, backups_at_creation, gib_at_creation, size_at_creation,
};

/// A billable resource as billing sees it, borrowed from the world (live or retired).
struct Resource<'w> {
    kind: Kind,
    /// A droplet's or image's numeric id, a volume's or volume snapshot's uuid, an address.
    id: &'w str,
    name: &'w str,
    created: i64,
    deleted: Option<i64>,
    history: &'w [(OffsetDateTime, Change)],
    /// The project of a deleted resource, as it was recorded; `None` for a live one (looked up
    /// when labelled) and for snapshots.
    project: Option<&'w str>,
    live: bool,
}

/// What a resource is and what it was priced by when it was made.
#[derive(Clone, Copy)]
enum Kind {
    Droplet {
        size: &'static SizeSpec,
        backups: Option<BackupPlan>,
    },
    Volume {
        gib: u64,
    },
    /// A droplet snapshot or custom image (numeric id) or a volume snapshot (uuid).
    Snapshot {
        centi_gib: u64,
        by_uuid: bool,
    },
    ReservedIp,
}

/// What one resource costs at one price in the month, before labels.
struct Charge {
    product: Product,
    /// The droplet size or volume GiB that priced it (for the description).
    size: Option<&'static str>,
    gib: Option<u64>,
    amount: Decimal,
    duration: i64,
    unit: Unit,
    start: i64,
    end: i64,
}

fn seconds(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

/// A stretch of a resource's life inside the window, priced by one state.
struct Piece<S> {
    from: i64,
    to: i64,
    state: S,
}

/// The stretches of a life `[created, deleted)` that fall in `[window.0, window.1)`, each with
/// the state the changes in `history` (applied by `apply`) had left it in.
fn pieces<S: Clone>(
    created: i64,
    deleted: Option<i64>,
    initial: S,
    history: &[(OffsetDateTime, Change)],
    apply: impl Fn(&S, &Change) -> Option<S>,
    window: (i64, i64),
) -> Vec<Piece<S>> {
    let end_of_life = deleted.unwrap_or(i64::MAX).max(created);
    let mut out = Vec::new();
    let mut push = |from: i64, to: i64, state: &S| {
        let (from, to) = (from.max(window.0), to.min(window.1));
        if from < to {
            out.push(Piece { from, to, state: state.clone() });
        }
    };
    let mut state = initial;
    let mut since = created;
    for (at, change) in history {
        let Some(next) = apply(&state, change) else { continue };
        let at = seconds(*at).clamp(since, end_of_life);
        push(since, at, &state);
        state = next;
        since = at;
    }
    push(since, end_of_life, &state);
    out
}

/// A droplet's price-setting state.
#[derive(Clone, Copy)]
struct DropletState {
    size: &'static SizeSpec,
    backups: Option<BackupPlan>,
}

/// One size's share of a droplet's month.
struct SizeUse {
    size: &'static SizeSpec,
    seconds: i64,
    weekly: i64,
    daily: i64,
    start: i64,
    end: i64,
    /// The span with backups on, if any.
    backups_span: Option<(i64, i64)>,
}

fn widen(span: Option<(i64, i64)>, from: i64, to: i64) -> Option<(i64, i64)> {
    Some(span.map_or((from, to), |(a, b)| (a.min(from), b.max(to))))
}

fn droplet_charges(
    r: &Resource<'_>,
    size0: &'static SizeSpec,
    backups0: Option<BackupPlan>,
    month: (i64, i64),
    now: i64,
    out: &mut Vec<Charge>,
) {
    let (month_start, month_end) = month;
    let created_here = r.created >= month_start && r.created < month_end && r.created <= now;
    let apply = |state: &DropletState, change: &Change| match change {
        Change::Resized { to, .. } => catalog::size_by_slug(to).map(|size| DropletState { size, ..*state }),
        Change::Backups { to, .. } => Some(DropletState { backups: *to, ..*state }),
        _ => None,
    };
    let initial = DropletState { size: size0, backups: backups0 };
    let window = (month_start, month_end.min(now));
    let mut uses: Vec<SizeUse> = Vec::new();
    for piece in pieces(r.created, r.deleted, initial, r.history, apply, window) {
        let index = match uses.iter().position(|u| u.size.slug == piece.state.size.slug) {
            Some(index) => index,
            None => {
                uses.push(SizeUse {
                    size: piece.state.size,
                    seconds: 0,
                    weekly: 0,
                    daily: 0,
                    start: piece.from,
                    end: piece.to,
                    backups_span: None,
                });
                uses.len() - 1
            }
        };
        let size_use = &mut uses[index];
        let length = piece.to - piece.from;
        size_use.seconds += length;
        size_use.start = size_use.start.min(piece.from);
        size_use.end = size_use.end.max(piece.to);
        match piece.state.backups {
            Some(BackupPlan::Weekly) => size_use.weekly += length,
            Some(BackupPlan::Daily) => size_use.daily += length,
            None => continue,
        }
        size_use.backups_span = widen(size_use.backups_span, piece.from, piece.to);
    }
    if created_here && !uses.iter().any(|u| u.size.slug == size0.slug) {
        // Created this month but no time has passed yet (or it lived under a second): the
        // minimum still applies, at the creation size.
        uses.insert(
            0,
            SizeUse {
                size: size0,
                seconds: 0,
                weekly: 0,
                daily: 0,
                start: r.created,
                end: r.created,
                backups_span: backups0.map(|_| (r.created, r.created)),
            },
        );
    }
    let mut amounts: Vec<Decimal> =
        uses.iter().map(|u| rules::droplet_charge(u.size, u.seconds, month_start)).collect();
    if created_here {
        let minimum = rules::droplet_minimum(size0, month_start);
        let sum: Decimal = amounts.iter().sum();
        if sum < minimum
            && let Some(index) = uses.iter().position(|u| u.size.slug == size0.slug)
        {
            amounts[index] += minimum - sum;
        }
    }
    for (size_use, amount) in uses.iter().zip(amounts) {
        let (unit, duration, backup_duration) = match rules::metering(size_use.size, month_start) {
            Metering::PerSecond => (Unit::Seconds, size_use.seconds, size_use.weekly + size_use.daily),
            Metering::PerStartedHour => (
                Unit::Hours,
                rules::started_hours(size_use.seconds),
                rules::started_hours(size_use.weekly + size_use.daily),
            ),
        };
        out.push(Charge {
            product: Product::Droplets,
            size: Some(size_use.size.slug),
            gib: None,
            amount,
            duration,
            unit,
            start: size_use.start,
            end: size_use.end,
        });
        let backups = match (size_use.seconds, backups0) {
            (0, Some(plan)) => amount * rules::backup_rate(plan),
            (0, None) => Decimal::ZERO,
            (all, _) => rules::backup_charge(amount, all, size_use.weekly, size_use.daily),
        };
        if let Some((start, end)) = size_use.backups_span
            && backups > Decimal::ZERO
        {
            out.push(Charge {
                product: Product::Backups,
                size: Some(size_use.size.slug),
                gib: None,
                amount: backups,
                duration: backup_duration,
                unit,
                start,
                end,
            });
        }
    }
}

fn volume_charges(r: &Resource<'_>, gib0: u64, month: (i64, i64), now: i64, out: &mut Vec<Charge>) {
    let apply = |_: &u64, change: &Change| match change {
        Change::Grown { gib, .. } => Some(*gib),
        _ => None,
    };
    let window = (month.0, month.1.min(now));
    let mut uses: Vec<(u64, i64, i64, i64)> = Vec::new();
    for piece in pieces(r.created, r.deleted, gib0, r.history, apply, window) {
        match uses.iter_mut().find(|u| u.0 == piece.state) {
            Some(u) => {
                u.1 += piece.to - piece.from;
                u.3 = u.3.max(piece.to);
            }
            None => uses.push((piece.state, piece.to - piece.from, piece.from, piece.to)),
        }
    }
    for (gib, secs, start, end) in uses {
        out.push(Charge {
            product: Product::Volumes,
            size: None,
            gib: Some(gib),
            amount: rules::volume_charge(gib, secs),
            duration: secs,
            unit: Unit::Seconds,
            start,
            end,
        });
    }
}

fn snapshot_charges(r: &Resource<'_>, centi_gib: u64, month: (i64, i64), now: i64, out: &mut Vec<Charge>) {
    let created_here = r.created >= month.0 && r.created < month.1 && r.created <= now;
    let window = (month.0, month.1.min(now));
    let found = pieces(r.created, r.deleted, (), &[], |_, _| None, window);
    let (secs, start, end) = match found.first() {
        Some(piece) => (piece.to - piece.from, piece.from, piece.to),
        None if created_here => (0, r.created, r.created),
        None => return,
    };
    let mut amount = rules::snapshot_charge(centi_gib, secs);
    if created_here {
        amount = amount.max(rules::SNAPSHOT_MINIMUM_CHARGE);
    }
    out.push(Charge {
        product: Product::Snapshots,
        size: None,
        gib: None,
        amount,
        duration: secs,
        unit: Unit::Seconds,
        start,
        end,
    });
}

fn reserved_ip_charges(r: &Resource<'_>, month: (i64, i64), now: i64, out: &mut Vec<Charge>) {
    let apply = |_: &bool, change: &Change| match change {
        Change::Attached { .. } => Some(true),
        Change::Detached => Some(false),
        _ => None,
    };
    let window = (month.0, month.1.min(now));
    let mut unassigned = 0;
    let mut span: Option<(i64, i64)> = None;
    for piece in
        pieces(r.created, r.deleted, false, r.history, apply, window).into_iter().filter(|p| !p.state)
    {
        unassigned += piece.to - piece.from;
        span = widen(span, piece.from, piece.to);
    }
    if let Some((start, end)) = span {
        out.push(Charge {
            product: Product::ReservedIps,
            size: None,
            gib: None,
            amount: rules::unassigned_ip_charge(unassigned),
            duration: unassigned,
            unit: Unit::Seconds,
            start,
            end,
        });
    }
}

fn charges(r: &Resource<'_>, month: (i64, i64), now: i64, out: &mut Vec<Charge>) {
    // Gone before the month, or not yet made: nothing to price.
    if r.created >= month.1 || r.created > now || r.deleted.is_some_and(|d| d < month.0) {
        return;
    }
    match r.kind {
        Kind::Droplet { size, backups } => droplet_charges(r, size, backups, month, now, out),
        Kind::Volume { gib } => volume_charges(r, gib, month, now, out),
        Kind::Snapshot { centi_gib, .. } => snapshot_charges(r, centi_gib, month, now, out),
        Kind::ReservedIp => reserved_ip_charges(r, month, now, out),
    }
}

/// Visits every billable resource of the account, live ones first.
fn for_each_resource(world: &World, mut visit: impl FnMut(&Resource<'_>)) {
    let mut id = String::new();
    for d in world.droplets.values() {
        id.clear();
        id.push_str(&d.id.to_string());
        let size = catalog::size_by_slug(size_at_creation(&d.history, d.size.slug)).unwrap_or(d.size);
        visit(&Resource {
            kind: Kind::Droplet { size, backups: backups_at_creation(&d.history, d.backups) },
            id: &id,
            name: &d.name,
            created: seconds(d.created_at),
            deleted: None,
            history: &d.history,
            project: None,
            live: true,
        });
    }
    for v in world.volumes.values() {
        visit(&Resource {
            kind: Kind::Volume { gib: gib_at_creation(&v.history, v.size_gib) },
            id: &v.id,
            name: &v.name,
            created: seconds(v.created_at),
            deleted: None,
            history: &v.history,
            project: None,
            live: true,
        });
    }
    for s in world.volume_snapshots.values() {
        visit(&Resource {
            kind: Kind::Snapshot { centi_gib: s.size_centi_gib, by_uuid: true },
            id: &s.id,
            name: &s.name,
            created: seconds(s.created_at),
            deleted: None,
            history: &[],
            project: None,
            live: true,
        });
    }
    for image in world.private_images.values() {
        id.clear();
        id.push_str(&image.id.to_string());
        visit(&Resource {
            kind: Kind::Snapshot { centi_gib: image.size_centi_gib, by_uuid: false },
            id: &id,
            name: &image.name,
            created: seconds(image.created_at),
            deleted: None,
            history: &[],
            project: None,
            live: true,
        });
    }
    for ip in world.reserved_ips.values() {
        visit(&Resource {
            kind: Kind::ReservedIp,
            id: &ip.address,
            name: "",
            created: seconds(ip.created_at),
            deleted: None,
            history: &ip.history,
            project: None,
            live: true,
        });
    }
    for r in &world.retired {
        let kind = match (&r.measure, r.kind) {
            (Measure::Size(slug), _) => match catalog::size_by_slug(slug) {
                Some(size) => Kind::Droplet { size, backups: r.backups },
                None => continue,
            },
            (Measure::Gib(gib), _) => Kind::Volume { gib: *gib },
            (Measure::CentiGib(centi_gib), kind) => {
                Kind::Snapshot { centi_gib: *centi_gib, by_uuid: kind == "volume_snapshot" }
            }
            (Measure::Address, _) => Kind::ReservedIp,
        };
        visit(&Resource {
            kind,
            id: &r.id,
            name: &r.name,
            created: seconds(r.created_at),
            deleted: Some(seconds(r.deleted_at)),
            history: &r.history,
            project: r.project.as_deref(),
            live: false,
        });
    }
}

/// A droplet's `resource_uuid`: droplets have numeric ids, so a uuid is derived from it.
fn droplet_uuid(id: &str) -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(b"dosim-dr");
    bytes[8..].copy_from_slice(&id.parse::<u64>().unwrap_or_default().to_be_bytes());
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn label(world: &World, r: &Resource<'_>, charge: Charge) -> Item {
    let project = |urn: String| match (r.live, r.project) {
        (true, _) => Some(world.project_name_of(&urn)),
        (false, project) => project.map(str::to_owned),
    };
    let (resource_id, resource_uuid, description, project_name) = match r.kind {
        Kind::Droplet { .. } => (
            Some(r.id.to_owned()),
            Some(droplet_uuid(r.id)),
            format!("{} ({})", r.name, charge.size.unwrap_or_default()),
            project(format!("do:droplet:{}", r.id)),
        ),
        Kind::Volume { .. } => (
            None,
            Some(r.id.to_owned()),
            format!("{} ({} GiB)", r.name, charge.gib.unwrap_or_default()),
            project(format!("do:volume:{}", r.id)),
        ),
        Kind::Snapshot { centi_gib, by_uuid } => {
            let (id, uuid) =
                if by_uuid { (None, Some(r.id.to_owned())) } else { (Some(r.id.to_owned()), None) };
            (id, uuid, format!("{} ({}.{:02} GiB)", r.name, centi_gib / 100, centi_gib % 100), None)
        }
        Kind::ReservedIp => (
            Some(r.id.to_owned()),
            None,
            format!("{} (unassigned)", r.id),
            project(format!("do:floatingip:{}", r.id)),
        ),
    };
    Item {
        product: charge.product,
        resource_id,
        resource_uuid,
        description,
        amount: charge.amount,
        duration: charge.duration,
        unit: charge.unit,
        start: at(charge.start),
        end: at(charge.end),
        project_name,
    }
}

/// The account's usage in `month` as of `now`: every item, oldest first.
pub fn month_items(world: &World, month: Month, now: OffsetDateTime) -> Vec<Item> {
    let (bounds, now) = (month.seconds(), seconds(now));
    let mut items = Vec::new();
    let mut scratch = Vec::new();
    for_each_resource(world, |r| {
        charges(r, bounds, now, &mut scratch);
        items.extend(scratch.drain(..).map(|c| label(world, r, c)));
    });
    items.sort_by_key(|item| (item.start, item.product));
    items
}

/// The exact total of the account's usage in `month` as of `now` (what [`month_items`] adds up
/// to, without making the items).
pub fn month_total(world: &World, month: Month, now: OffsetDateTime) -> Decimal {
    let (bounds, now) = (month.seconds(), seconds(now));
    let mut total = Decimal::ZERO;
    let mut scratch = Vec::new();
    for_each_resource(world, |r| {
        charges(r, bounds, now, &mut scratch);
        total += scratch.drain(..).map(|c| c.amount).sum::<Decimal>();
    });
    total
}

/// The exact totals of `count` consecutive months from `first`, as of `now`, oldest first: what
/// [`month_total`] gives for each, in one pass over the resources, each visiting only the months
/// it lived in.
pub fn month_totals(world: &World, first: Month, count: usize, now: OffsetDateTime) -> Vec<Decimal> {
    let mut totals = vec![Decimal::ZERO; count];
    let Some(last) = (count as i64).checked_sub(1).map(|n| first.index() + n) else { return totals };
    let now_seconds = seconds(now);
    let mut scratch = Vec::new();
    for_each_resource(world, |r| {
        let month_of = |unix: i64| Month::containing(at(unix)).index();
        let from = month_of(r.created).max(first.index());
        let until = month_of(r.deleted.unwrap_or(now_seconds).min(now_seconds)).min(last);
        for index in from..=until {
            charges(r, Month::from_index(index).seconds(), now_seconds, &mut scratch);
            let slot = usize::try_from(index - first.index()).unwrap_or(usize::MAX);
            if let Some(total) = totals.get_mut(slot) {
                *total += scratch.drain(..).map(|c| c.amount).sum::<Decimal>();
            }
            scratch.clear();
        }
    });
    totals
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn change_at(t: OffsetDateTime, change: Change) -> (OffsetDateTime, Change) {
        (t, change)
    }

    #[test]
    fn a_life_is_cut_to_the_window_and_split_where_its_state_changed() {
        let history = vec![
            change_at(datetime!(2026-03-05 00:00 UTC), Change::Grown { from_gib: 10, gib: 20 }),
            change_at(datetime!(2026-03-06 00:00 UTC), Change::Detached),
        ];
        let apply = |_: &u64, c: &Change| match c {
            Change::Grown { gib, .. } => Some(*gib),
            _ => None,
        };
        let created = seconds(datetime!(2026-02-20 00:00 UTC));
        let march = Month::containing(datetime!(2026-03-01 00:00 UTC)).seconds();
        let found = pieces(created, None, 10, &history, apply, (march.0, march.0 + 10 * 86_400));
        let spans: Vec<_> = found.iter().map(|p| ((p.to - p.from) / 86_400, p.state)).collect();
        assert_eq!(spans, vec![(4, 10), (6, 20)]);
    }

    #[test]
    fn a_change_recorded_before_the_one_it_follows_counts_from_the_later() {
        let history = vec![
            change_at(datetime!(2026-03-05 00:00 UTC), Change::Attached { droplet_id: 1 }),
            change_at(datetime!(2026-03-04 00:00 UTC), Change::Detached),
        ];
        let apply = |_: &bool, c: &Change| match c {
            Change::Attached { .. } => Some(true),
            Change::Detached => Some(false),
            _ => None,
        };
        let created = seconds(datetime!(2026-03-01 00:00 UTC));
        let found = pieces(created, Some(created + 10 * 86_400), false, &history, apply, (0, i64::MAX));
        let spans: Vec<_> = found.iter().map(|p| ((p.to - p.from) / 86_400, p.state)).collect();
        assert_eq!(spans, vec![(4, false), (6, false)], "the detach lands with the attach: no assigned time");
    }
}
