//! The range money from outside may take, checked on the way in.
//!
//! Prices come from places Nephele does not control: DigitalOcean's `/v2/sizes` (or whatever
//! answers at `base_url`), a plugin's answer, a catalogue file. Each figure is checked against
//! the ceilings below where it enters (the provider crate's mapping, the plugin protocol's
//! conversion), so the cost engine and the server only ever add and multiply figures a real
//! price list could hold. An out-of-range figure is refused with its field named, never clamped
//! (a clamped price is a wrong price that looks right) and never let through to overflow later.
//!
//! The ceilings are far above any real list price, so they refuse only figures that are broken
//! or hostile: the dearest instance types any cloud sells today cost a few hundred dollars an
//! hour (EC2's largest high-memory types, about $400), DigitalOcean's dearest GPU droplets about
//! $24. They are also low enough that no estimate Nephele makes with them can overflow a
//! `Decimal`: 1,000 instances for 100 years at the hourly ceiling with the largest backup
//! surcharge come to about 10^14 dollars, fourteen orders of magnitude below `Decimal::MAX`.

use rust_decimal::Decimal;

/// The most an instance may cost per hour: $10,000 (25 times the dearest real price).
pub const MAX_PRICE_HOURLY: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

/// The most an instance may cost per month: $10,000,000 (the hourly ceiling for 744 hours, the
/// longest month, is $7,440,000).
pub const MAX_PRICE_MONTHLY: Decimal = Decimal::from_parts(10_000_000, 0, 0, false, 0);

/// The most a billing policy's minimum charge per instance may be: a month at the ceiling.
pub const MAX_MINIMUM_CHARGE: Decimal = MAX_PRICE_MONTHLY;

/// The most a backup surcharge may be, as a fraction of the instance's charge: 10 (1,000%;
/// real ones are 0.2 and 0.3).
pub const MAX_BACKUP_RATE: Decimal = Decimal::from_parts(10, 0, 0, false, 0);

/// A figure outside `0..=max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{value} is outside the accepted range 0 to {max}")]
pub struct OutOfRange {
    pub value: Decimal,
    pub max: Decimal,
}

/// A figure of a price list or billing policy that is out of range, with the field it was in
/// (`price_hourly`, `regional_prices.us-east-1.hourly`, `minimum_charge`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` is {}, outside the accepted range 0 to {}", reason.value, reason.max)]
pub struct FigureRefused {
    pub field: String,
    pub reason: OutOfRange,
}

/// `value` of `field` when it lies in `0..=max`.
pub fn check(field: impl Into<String>, value: Decimal, max: Decimal) -> Result<Decimal, FigureRefused> {
    within(value, max).map_err(|reason| FigureRefused { field: field.into(), reason })
}

/// `value` when it lies in `0..=max`. Negative zero counts as zero.
pub fn within(value: Decimal, max: Decimal) -> Result<Decimal, OutOfRange> {
    if value.is_zero() {
        return Ok(Decimal::ZERO);
    }
    if value.is_sign_negative() || value > max {
        return Err(OutOfRange { value, max });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    #[test]
    fn figures_inside_the_range_pass_unchanged() {
        assert_eq!(within(dec("0.00893"), MAX_PRICE_HOURLY), Ok(dec("0.00893")));
        assert_eq!(within(MAX_PRICE_HOURLY, MAX_PRICE_HOURLY), Ok(MAX_PRICE_HOURLY));
        assert_eq!(within(dec("-0"), MAX_PRICE_HOURLY), Ok(Decimal::ZERO));
    }

    #[test]
    fn negative_and_huge_figures_are_refused_with_the_range_in_words() {
        let refused = within(dec("-10"), MAX_PRICE_HOURLY).expect_err("negative");
        assert_eq!(refused.to_string(), "-10 is outside the accepted range 0 to 10000");
        assert!(within(Decimal::MAX, MAX_PRICE_MONTHLY).is_err());
        assert!(within(dec("10000.0000001"), MAX_PRICE_HOURLY).is_err());
        assert!(within(Decimal::MIN, MAX_BACKUP_RATE).is_err());
    }
}
