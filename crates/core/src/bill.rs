//! What a cloud says it has billed so far this month: the real bill Nephele shows beside its
//! own month-to-date, per account. Only clouds that expose it (DigitalOcean's balance and invoice
//! preview) give one; the others are "estimate only".

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A cloud's own figures for the month so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudBill {
    /// Usage billed since the start of this calendar month (DigitalOcean's `month_to_date_usage`).
    #[serde(with = "rust_decimal::serde::str")]
    pub month_to_date_usage: Decimal,
    pub currency: String,
    /// When the cloud computed it.
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    /// The running invoice of this month (DigitalOcean's invoice preview), when known.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub invoice_preview: Option<Decimal>,
    /// The invoice's period (`2026-03`).
    #[serde(default)]
    pub invoice_period: Option<String>,
    /// Where the figures come from, for people (`/v2/customers/my/balance`).
    pub source: String,
}
