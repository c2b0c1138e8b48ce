//! Billing durations: `30s`, `90min`, `12h`, `1d`, `2w`, `1mo`, `1y`, combinations like `1d12h`,
//! and ISO 8601 (`P1DT12H`, `P1M`).
//!
//! A duration is a number of calendar months plus a number of seconds, because a billing month
//! is a calendar month: `1mo` from 15 January ends on 15 February, not 30 days later. No crate
//! models that (humantime, for one, has no months), hence this small parser.
//!
//! `m` alone is refused: the original API used it for a month, everyone else reads a minute.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::{Date, Month, OffsetDateTime};

/// The forms a duration may take, for error messages.
pub const ACCEPTED_FORMS: &str = "a number with a unit: 30s, 90min, 12h, 1d, 2w, 1mo, 1y (combinable, e.g. 1d12h), or ISO 8601 like P1DT12H";

/// A span of calendar months plus seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BillingDuration {
    pub months: u32,
    pub seconds: u64,
}

/// Why a string is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("`{0}` is ambiguous: write 1min for a minute or 1mo for a month")]
    AmbiguousM(String),
    #[error("`{input}` is not a duration; expected {ACCEPTED_FORMS}")]
    Malformed { input: String },
    #[error("a duration must be longer than zero")]
    Zero,
    #[error("`{0}` is too long; at most 100 years")]
    TooLong(String),
}

const MINUTE: u64 = 60;
const HOUR: u64 = 3600;
const DAY: u64 = 86_400;
const WEEK: u64 = 7 * DAY;
const MAX_MONTHS: u64 = 1200;

impl BillingDuration {
    pub fn from_seconds(seconds: u64) -> Self {
        Self { months: 0, seconds }
    }

    pub fn parse(raw: &str) -> Result<Self, DurationError> {
        let input = raw.trim();
        let malformed = || DurationError::Malformed { input: raw.to_owned() };
        if input.is_empty() {
            return Err(malformed());
        }
        let (months, seconds) = if input.starts_with(['P', 'p']) {
            parse_iso(&input[1..], raw)?.ok_or_else(malformed)?
        } else {
            parse_units(input, raw)?
        };
        if months > MAX_MONTHS || seconds > MAX_MONTHS * 31 * DAY {
            return Err(DurationError::TooLong(raw.to_owned()));
        }
        if months == 0 && seconds == 0 {
            return Err(DurationError::Zero);
        }
        Ok(Self { months: months as u32, seconds })
    }

    /// Where a span of this length that begins at `start` ends; `None` when that is past the
    /// calendar (the year 9999). Parsed durations from 2200 or earlier always have an end, but
    /// the fields are public and a duration may be made by hand.
    pub fn end_from(&self, start: OffsetDateTime) -> Option<OffsetDateTime> {
        let seconds = time::Duration::seconds(i64::try_from(self.seconds).ok()?);
        add_months(start, self.months)?.checked_add(seconds)
    }
}

/// `start` plus `months` calendar months, the day clamped to the target month's length
/// (31 January + 1 month = 28 or 29 February); `None` past the calendar (the year 9999).
pub fn add_months(start: OffsetDateTime, months: u32) -> Option<OffsetDateTime> {
    let total = i64::from(start.year()) * 12 + (i64::from(u8::from(start.month())) - 1) + i64::from(months);
    let year = i32::try_from(total.div_euclid(12)).ok()?;
    let month = Month::try_from(u8::try_from(total.rem_euclid(12)).ok()? + 1).ok()?;
    let day = start.day().min(month.length(year));
    Date::from_calendar_date(year, month, day).ok().map(|date| start.replace_date(date))
}

/// Months and seconds added up with checked arithmetic: a sum past `u64` is "too long", never a
/// wrapped (and so wrongly small) span.
#[derive(Default)]
struct Span {
    months: u64,
    seconds: u64,
}

impl Span {
    fn add_months(&mut self, number: u64, per: u64) -> Option<()> {
        self.months = self.months.checked_add(number.checked_mul(per)?)?;
        Some(())
    }

    fn add_seconds(&mut self, number: u64, per: u64) -> Option<()> {
        self.seconds = self.seconds.checked_add(number.checked_mul(per)?)?;
        Some(())
    }
}

fn parse_units(input: &str, raw: &str) -> Result<(u64, u64), DurationError> {
    let malformed = || DurationError::Malformed { input: raw.to_owned() };
    let too_long = || DurationError::TooLong(raw.to_owned());
    let mut span = Span::default();
    let mut rest = input;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(malformed());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| too_long())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = rest[..unit_len].trim().to_ascii_lowercase();
        rest = &rest[unit_len..];
        let added = match unit.as_str() {
            "s" | "sec" | "secs" | "second" | "seconds" => span.add_seconds(number, 1),
            "min" | "mins" | "minute" | "minutes" => span.add_seconds(number, MINUTE),
            "h" | "hr" | "hrs" | "hour" | "hours" => span.add_seconds(number, HOUR),
            "d" | "day" | "days" => span.add_seconds(number, DAY),
            "w" | "wk" | "week" | "weeks" => span.add_seconds(number, WEEK),
            "mo" | "mon" | "month" | "months" => span.add_months(number, 1),
            "y" | "yr" | "year" | "years" => span.add_months(number, 12),
            "m" => return Err(DurationError::AmbiguousM(raw.to_owned())),
            _ => return Err(malformed()),
        };
        added.ok_or_else(too_long)?;
    }
    Ok((span.months, span.seconds))
}

/// The part after `P`: `nYnMnWnD` then optionally `T` and `nHnMnS` (whole numbers only).
/// `Ok(None)` when it is not of that form; `Err` when its numbers add up past `u64`.
fn parse_iso(body: &str, raw: &str) -> Result<Option<(u64, u64)>, DurationError> {
    let too_long = || DurationError::TooLong(raw.to_owned());
    let (date_part, time_part) = match body.split_once(['T', 't']) {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return Ok(None),
        None => (body, None),
    };
    let mut span = Span::default();
    let mut any = false;
    let Some(date) = designators(date_part) else { return Ok(None) };
    for (number, unit) in date {
        any = true;
        let added = match unit {
            'Y' => span.add_months(number, 12),
            'M' => span.add_months(number, 1),
            'W' => span.add_seconds(number, WEEK),
            'D' => span.add_seconds(number, DAY),
            _ => return Ok(None),
        };
        added.ok_or_else(too_long)?;
    }
    if let Some(time_part) = time_part {
        let Some(time) = designators(time_part) else { return Ok(None) };
        for (number, unit) in time {
            any = true;
            let added = match unit {
                'H' => span.add_seconds(number, HOUR),
                'M' => span.add_seconds(number, MINUTE),
                'S' => span.add_seconds(number, 1),
                _ => return Ok(None),
            };
            added.ok_or_else(too_long)?;
        }
    }
    Ok(any.then_some((span.months, span.seconds)))
}

fn designators(part: &str) -> Option<Vec<(u64, char)>> {
    let mut out = Vec::new();
    let mut number = String::new();
    for c in part.chars() {
        if c.is_ascii_digit() {
            number.push(c);
        } else {
            if number.is_empty() {
                return None;
            }
            out.push((number.parse().ok()?, c.to_ascii_uppercase()));
            number.clear();
        }
    }
    number.is_empty().then_some(out)
}

impl FromStr for BillingDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for BillingDuration {
    /// ISO 8601, the one unambiguous form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "P")?;
        if self.months > 0 {
            write!(f, "{}M", self.months)?;
        }
        let days = self.seconds / DAY;
        let rest = self.seconds % DAY;
        if days > 0 {
            write!(f, "{days}D")?;
        }
        if rest > 0 {
            write!(f, "T")?;
            let (h, m, s) = (rest / HOUR, rest % HOUR / MINUTE, rest % MINUTE);
            if h > 0 {
                write!(f, "{h}H")?;
            }
            if m > 0 {
                write!(f, "{m}M")?;
            }
            if s > 0 {
                write!(f, "{s}S")?;
            }
        }
        Ok(())
    }
}

impl Serialize for BillingDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BillingDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn sums_that_pass_u64_are_too_long_not_wrapped() {
        for raw in [
            "18446744073709551615mo2mo",
            "18446744073709551615s2s",
            "PT18446744073709551615S2S",
            "P18446744073709551615M2M",
            "P1537228672809129302Y",
            "9223372036854775807w",
        ] {
            assert!(
                matches!(BillingDuration::parse(raw), Err(DurationError::TooLong(_))),
                "{raw}: {:?}",
                BillingDuration::parse(raw)
            );
        }
        // Just inside the bound still parses.
        assert_eq!(BillingDuration::parse("100y").map(|d| d.months), Ok(1200));
    }

    fn secs(raw: &str) -> u64 {
        let d = BillingDuration::parse(raw).expect(raw);
        assert_eq!(d.months, 0, "{raw}");
        d.seconds
    }

    #[test]
    fn unit_forms_parse_to_seconds_or_months() {
        assert_eq!(secs("30s"), 30);
        assert_eq!(secs("90min"), 5400);
        assert_eq!(secs("12h"), 43_200);
        assert_eq!(secs("1d"), 86_400);
        assert_eq!(secs("2w"), 1_209_600);
        assert_eq!(secs("1d12h"), 129_600);
        assert_eq!(BillingDuration::parse("1mo"), Ok(BillingDuration { months: 1, seconds: 0 }));
        assert_eq!(BillingDuration::parse("1y"), Ok(BillingDuration { months: 12, seconds: 0 }));
    }

    #[test]
    fn iso_8601_forms_parse() {
        assert_eq!(secs("P1DT12H"), 129_600);
        assert_eq!(secs("PT30S"), 30);
        assert_eq!(secs("PT90M"), 5400);
        assert_eq!(BillingDuration::parse("P1Y2M"), Ok(BillingDuration { months: 14, seconds: 0 }));
        assert_eq!(secs("P2W"), 1_209_600);
    }

    #[test]
    fn bare_m_is_refused_with_a_suggestion() {
        let err = BillingDuration::parse("1m").expect_err("ambiguous");
        assert!(err.to_string().contains("1min") && err.to_string().contains("1mo"), "{err}");
    }

    #[test]
    fn nonsense_zero_and_huge_are_refused() {
        for bad in ["", "d", "1", "1x", "-1d", "1.5h", "P", "PT", "P1H", "P1DT", "1 d 2"] {
            assert!(BillingDuration::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(BillingDuration::parse("0s"), Err(DurationError::Zero));
        assert!(matches!(BillingDuration::parse("1000y"), Err(DurationError::TooLong(_))));
        assert!(matches!(BillingDuration::parse("99999999999999999999s"), Err(DurationError::TooLong(_))));
    }

    #[test]
    fn months_are_calendar_months_with_the_day_clamped() {
        let one_month = BillingDuration { months: 1, seconds: 0 };
        assert_eq!(
            one_month.end_from(datetime!(2026-01-15 00:00 UTC)),
            Some(datetime!(2026-02-15 00:00 UTC))
        );
        assert_eq!(
            one_month.end_from(datetime!(2026-01-31 10:00 UTC)),
            Some(datetime!(2026-02-28 10:00 UTC))
        );
        assert_eq!(
            one_month.end_from(datetime!(2028-01-31 10:00 UTC)),
            Some(datetime!(2028-02-29 10:00 UTC))
        );
        let year = BillingDuration { months: 12, seconds: 0 };
        assert_eq!(year.end_from(datetime!(2026-12-01 00:00 UTC)), Some(datetime!(2027-12-01 00:00 UTC)));
    }

    #[test]
    fn an_end_past_the_calendar_is_none_not_a_wrong_date() {
        let late = datetime!(9999-12-15 00:00 UTC);
        assert_eq!(BillingDuration { months: 1, seconds: 0 }.end_from(late), None);
        assert_eq!(BillingDuration { months: u32::MAX, seconds: 0 }.end_from(late), None);
        assert_eq!(BillingDuration { months: 0, seconds: u64::MAX }.end_from(late), None);
        assert_eq!(BillingDuration { months: 0, seconds: 86_400 * 365 }.end_from(late), None);
    }

    #[test]
    fn display_is_iso_8601_and_round_trips() {
        for raw in ["1d12h", "1mo", "30s", "P1Y2M3DT4H5M6S", "2w"] {
            let d = BillingDuration::parse(raw).expect(raw);
            assert_eq!(BillingDuration::parse(&d.to_string()), Ok(d), "{raw} -> {d}");
        }
    }
}
