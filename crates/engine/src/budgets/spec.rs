//! What a budget is: an amount per calendar period (UTC) over a scope of the fleet, with
//! thresholds on what was spent (`actual`) or what will have been spent by the period's end at
//! the current run-rate (`forecast`), and what to do about a create that would overrun it.
//! Parsed once, at the API's edge, with every bad field named.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime, Time};

use crate::FieldError;

/// A budget's calendar period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Month,
    Quarter,
    Year,
}

impl Period {
    /// The period containing `now`: its start, its end and its label (`2026-03`, `2026-Q1`, `2026`).
    pub fn around(self, now: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime, String) {
        let now = now.to_offset(time::UtcOffset::UTC);
        let year = now.year();
        let at = |y: i32, m: u8| {
            let month = Month::try_from(m).unwrap_or(Month::January);
            Date::from_calendar_date(y, month, 1)
                .map(|d| d.with_time(Time::MIDNIGHT).assume_utc())
                .unwrap_or(now)
        };
        let m = u8::from(now.month());
        match self {
            Self::Month => {
                let (ny, nm) = if m == 12 { (year + 1, 1) } else { (year, m + 1) };
                (at(year, m), at(ny, nm), format!("{year:04}-{m:02}"))
            }
            Self::Quarter => {
                let q = (m - 1) / 3;
                let first = q * 3 + 1;
                let (ny, nm) = if q == 3 { (year + 1, 1) } else { (year, first + 3) };
                (at(year, first), at(ny, nm), format!("{year:04}-Q{}", q + 1))
            }
            Self::Year => (at(year, 1), at(year + 1, 1), format!("{year:04}")),
        }
    }
}

/// What a threshold is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// What was spent so far in the period.
    Actual,
    /// What was spent, plus the current run-rate to the period's end.
    Forecast,
}

/// Where a threshold stands: a percentage of the amount, or an amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Percent(Decimal),
    Amount(Decimal),
}

/// The written form of an amount, as the API document's pattern says it
/// ([`AMOUNT_PATTERN`]): digits without a sign or a leading zero, then at most two decimals.
fn money_text(raw: &str) -> Option<Decimal> {
    let (int, frac) = match raw.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (raw, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || (int.len() > 1 && int.starts_with('0')) {
        return None;
    }
    if frac.is_some_and(|f| !digits(f) || f.len() > 2) {
        return None;
    }
    Decimal::from_str(raw).ok()
}

/// An amount as the API takes it: above zero, at most a billion, in whole cents.
pub const AMOUNT_PATTERN: &str =
    r"^(1000000000(\.0{1,2})?|[1-9][0-9]{0,8}(\.[0-9]{1,2})?|0\.([1-9][0-9]?|0[1-9]))$";
/// A threshold as the API takes it: an amount as [`AMOUNT_PATTERN`], or a percentage above zero
/// and at most 1000 with at most two decimals.
pub const LEVEL_PATTERN: &str = r"^(1000000000(\.0{1,2})?|[1-9][0-9]{0,8}(\.[0-9]{1,2})?|0\.([1-9][0-9]?|0[1-9])|(1000(\.0{1,2})?|[1-9][0-9]{0,2}(\.[0-9]{1,2})?|0\.([1-9][0-9]?|0[1-9]))%)$";

impl Level {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let (number, percent) = match raw.strip_suffix('%') {
            Some(n) => (n, true),
            None => (raw, false),
        };
        let value = money_text(number).ok_or_else(|| {
            "must be a percentage such as \"80%\" or an amount such as \"150.00\" (at most two decimals)"
                .to_owned()
        })?;
        if value <= Decimal::ZERO {
            return Err("must be more than zero".to_owned());
        }
        if percent {
            if value > Decimal::from(1000) {
                return Err("a percentage must be at most 1000%".to_owned());
            }
            Ok(Self::Percent(value))
        } else {
            check_amount(value)?;
            Ok(Self::Amount(value))
        }
    }

    /// The level in money, for a budget of `amount`.
    pub fn of(self, amount: Decimal) -> Decimal {
        match self {
            Self::Percent(p) => (amount * p / Decimal::ONE_HUNDRED).normalize(),
            Self::Amount(a) => a,
        }
    }

    pub fn label(self) -> String {
        match self {
            Self::Percent(p) => format!("{}%", p.normalize()),
            Self::Amount(a) => a.normalize().to_string(),
        }
    }
}

/// One threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Threshold {
    pub at: Level,
    pub basis: Basis,
}

/// What a budget does about a create that would overrun a forecast threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Enforce {
    None,
    Warn,
    Block,
}

/// What a budget covers; an empty list admits everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    #[serde(default)]
    pub accounts: Vec<String>,
    #[serde(default)]
    pub providers: Vec<String>,
    #[serde(default)]
    pub regions: Vec<String>,
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Tags a resource must all carry (`team:web`, or a bare `web`).
    #[serde(default)]
    pub tags: Vec<String>,
}

impl Scope {
    /// Whether a resource with these attributes is in scope.
    pub fn admits(&self, account: &str, provider: &str, region: &str, kind: &str, tags: &[String]) -> bool {
        let any = |list: &[String], value: &str| list.is_empty() || list.iter().any(|v| v == value);
        any(&self.accounts, account)
            && any(&self.providers, provider)
            && any(&self.regions, region)
            && any(&self.kinds, kind)
            && self.tags.iter().all(|t| tags.contains(t))
    }

    /// Whether the scope lies within the accounts `may_use` admits: what a scoped key may see.
    pub fn within(&self, may_use: impl Fn(&str) -> bool, all_accounts: &[String]) -> bool {
        if self.accounts.is_empty() {
            all_accounts.iter().all(|a| may_use(a))
        } else {
            self.accounts.iter().all(|a| may_use(a))
        }
    }
}

/// A budget as stored and evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetSpec {
    pub name: String,
    pub amount: Decimal,
    pub currency: String,
    pub period: Period,
    pub scope: Scope,
    pub thresholds: Vec<Threshold>,
    pub enforce: Enforce,
}

/// A threshold as written in a request and stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdBody {
    pub at: String,
    pub basis: Basis,
}

/// A budget as written in a request (every field optional: `PATCH` gives some) and stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetBody {
    pub name: Option<String>,
    pub amount: Option<String>,
    pub currency: Option<String>,
    pub period: Option<Period>,
    pub scope: Option<Scope>,
    pub thresholds: Option<Vec<ThresholdBody>>,
    pub enforce: Option<Enforce>,
}

/// The most thresholds a budget may have, and entries in each scope list.
pub const MAX_THRESHOLDS: usize = 10;
pub const MAX_SCOPE_ENTRIES: usize = 100;
/// The largest budget: a billion.
fn check_amount(value: Decimal) -> Result<(), String> {
    if value > Decimal::from(1_000_000_000) {
        return Err("must be at most 1000000000".to_owned());
    }
    if value.scale() > 2 && value.normalize().scale() > 2 {
        return Err("must be in whole cents (at most two decimal places)".to_owned());
    }
    Ok(())
}

impl BudgetBody {
    /// This body with `patch`'s fields over it.
    pub fn patched(mut self, patch: BudgetBody) -> Self {
        macro_rules! over {
            ($($f:ident),*) => { $( if patch.$f.is_some() { self.$f = patch.$f; } )* };
        }
        over!(name, amount, currency, period, scope, thresholds, enforce);
        self
    }

    /// The budget this body describes, or every field at fault.
    pub fn parse(&self) -> Result<BudgetSpec, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = match self.name.as_deref() {
            Some(n)
                if !n.is_empty()
                    && n.len() <= 100
                    && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ')) =>
            {
                n.to_owned()
            }
            Some(_) => {
                errors.push(FieldError::new(
                    "name",
                    "must be 1 to 100 letters, digits, spaces, `-`, `_` or `.`",
                ));
                String::new()
            }
            None => {
                errors.push(FieldError::new("name", "is required"));
                String::new()
            }
        };
        let amount = match self.amount.as_deref().map(|a| money_text(a).ok_or(())) {
            Some(Ok(a)) if a > Decimal::ZERO => match check_amount(a) {
                Ok(()) => a,
                Err(m) => {
                    errors.push(FieldError::new("amount", m));
                    Decimal::ZERO
                }
            },
            Some(_) => {
                errors.push(FieldError::new(
                    "amount",
                    "must be a decimal string above zero in whole cents, such as \"500.00\"",
                ));
                Decimal::ZERO
            }
            None => {
                errors.push(FieldError::new("amount", "is required"));
                Decimal::ZERO
            }
        };
        let currency = match self.currency.as_deref() {
            None => "USD".to_owned(),
            Some(c) if c.len() == 3 && c.chars().all(|ch| ch.is_ascii_uppercase()) => c.to_owned(),
            Some(_) => {
                errors.push(FieldError::new("currency", "must be an ISO 4217 code such as USD"));
                String::new()
            }
        };
        let scope = self.scope.clone().unwrap_or_default();
        for (field, list) in [
            ("scope.accounts", &scope.accounts),
            ("scope.providers", &scope.providers),
            ("scope.regions", &scope.regions),
            ("scope.kinds", &scope.kinds),
            ("scope.tags", &scope.tags),
        ] {
            if list.len() > MAX_SCOPE_ENTRIES {
                errors.push(FieldError::new(field, format!("must list at most {MAX_SCOPE_ENTRIES} entries")));
            }
            if list.iter().any(|v| v.is_empty() || v.chars().count() > 255) {
                errors.push(FieldError::new(field, "entries must be 1 to 255 characters"));
            }
        }
        if scope.tags.iter().any(|t| !nephele_core::is_valid_tag(t)) {
            errors.push(FieldError::new("scope.tags", "must be tags: letters, digits, `:`, `-` and `_`"));
        }
        let mut thresholds = Vec::new();
        let given = self.thresholds.clone().unwrap_or_default();
        if given.len() > MAX_THRESHOLDS {
            errors.push(FieldError::new("thresholds", format!("at most {MAX_THRESHOLDS} thresholds")));
        }
        for (i, t) in given.iter().enumerate() {
            match Level::parse(&t.at) {
                Ok(at) => thresholds.push(Threshold { at, basis: t.basis }),
                Err(m) => errors.push(FieldError::new(format!("thresholds[{i}].at"), m)),
            }
        }
        if errors.is_empty() {
            Ok(BudgetSpec {
                name,
                amount,
                currency,
                period: self.period.unwrap_or(Period::Month),
                scope,
                thresholds,
                enforce: self.enforce.unwrap_or(Enforce::None),
            })
        } else {
            Err(errors)
        }
    }
}

impl BudgetSpec {
    /// The body it is stored as.
    pub fn body(&self) -> BudgetBody {
        BudgetBody {
            name: Some(self.name.clone()),
            amount: Some(self.amount.normalize().to_string()),
            currency: Some(self.currency.clone()),
            period: Some(self.period),
            scope: Some(self.scope.clone()),
            thresholds: Some(
                self.thresholds.iter().map(|t| ThresholdBody { at: t.at.label(), basis: t.basis }).collect(),
            ),
            enforce: Some(self.enforce),
        }
    }

    /// The levels a create is held to: each forecast threshold's, or the amount when there is none.
    pub fn blocking_levels(&self) -> Vec<(Option<usize>, Decimal)> {
        let levels: Vec<(Option<usize>, Decimal)> = self
            .thresholds
            .iter()
            .enumerate()
            .filter(|(_, t)| t.basis == Basis::Forecast)
            .map(|(i, t)| (Some(i), t.at.of(self.amount)))
            .collect();
        if levels.is_empty() { vec![(None, self.amount)] } else { levels }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn periods_are_utc_calendar_periods() {
        let now = datetime!(2026-05-17 10:00 UTC);
        assert_eq!(
            Period::Quarter.around(now),
            (datetime!(2026-04-01 00:00 UTC), datetime!(2026-07-01 00:00 UTC), "2026-Q2".to_owned())
        );
        let december = datetime!(2026-12-31 23:59 UTC);
        assert_eq!(Period::Month.around(december).1, datetime!(2027-01-01 00:00 UTC));
        assert_eq!(Period::Quarter.around(december).2, "2026-Q4");
        assert_eq!(Period::Year.around(december).0, datetime!(2026-01-01 00:00 UTC));
    }

    #[test]
    fn a_body_names_every_bad_field() {
        let body = BudgetBody {
            name: Some(String::new()),
            amount: Some("-1".into()),
            thresholds: Some(vec![ThresholdBody { at: "eighty".into(), basis: Basis::Forecast }]),
            ..BudgetBody::default()
        };
        let fields: Vec<String> = body.parse().expect_err("refused").into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["name", "amount", "thresholds[0].at"]);
    }

    #[test]
    fn levels_are_percentages_or_amounts() {
        assert_eq!(Level::parse("80%").expect("level").of(Decimal::from(500)), Decimal::from(400));
        assert_eq!(Level::parse("150.50").expect("level").of(Decimal::from(500)), Decimal::new(15050, 2));
        assert!(Level::parse("0%").is_err());
        assert!(Level::parse("1.001").is_err());
    }
}
