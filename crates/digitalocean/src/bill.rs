//! The real bill: `GET /v2/customers/my/balance` (`month_to_date_usage`, `generated_at`) and the
//! invoice preview of `GET /v2/customers/my/invoices` (one page of one), read as the spec's
//! Billing tag shapes them. Amounts are USD strings with two places; one that is not a decimal
//! within the money ceilings is an unusable answer, never a guess.

use std::str::FromStr;

use nephele_core::ProviderError;
use nephele_core::bill::CloudBill;
use nephele_core::money::{MAX_PRICE_MONTHLY, within};
use reqwest::Method;
use rust_decimal::Decimal;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::transport::{Retry, Transport};

/// `GET /v2/customers/my/balance`.
#[derive(Deserialize)]
struct Balance {
    month_to_date_usage: String,
    generated_at: String,
}

/// The preview of `GET /v2/customers/my/invoices`.
#[derive(Deserialize)]
struct InvoicePreview {
    amount: String,
    invoice_period: Option<String>,
}

#[derive(Deserialize)]
struct Invoices {
    invoice_preview: Option<InvoicePreview>,
}

/// A USD amount as DigitalOcean writes it.
fn amount(field: &str, raw: &str) -> Result<Decimal, ProviderError> {
    let value = Decimal::from_str(raw.trim())
        .map_err(|_| ProviderError::invalid_response(format!("{field} is not a decimal amount")))?;
    within(value.abs(), MAX_PRICE_MONTHLY)
        .map(|_| value)
        .map_err(|_| ProviderError::invalid_response(format!("{field} is out of any real range")))
}

/// Reads the balance and the invoice preview: two requests.
pub async fn read(transport: &Transport) -> Result<CloudBill, ProviderError> {
    let reply = transport.send(Method::GET, "/v2/customers/my/balance", None, Retry::Idempotent).await?;
    let balance: Balance = reply.decode("balance")?;
    let generated_at =
        OffsetDateTime::parse(&balance.generated_at, &time::format_description::well_known::Rfc3339)
            .map_err(|_| {
                ProviderError::invalid_response("the balance's generated_at is not an RFC 3339 time")
            })?;
    let reply =
        transport.send(Method::GET, "/v2/customers/my/invoices?per_page=1", None, Retry::Idempotent).await?;
    let invoices: Invoices = reply.decode("invoices")?;
    let (invoice_preview, invoice_period) = match invoices.invoice_preview {
        Some(preview) => (Some(amount("invoice_preview.amount", &preview.amount)?), preview.invoice_period),
        None => (None, None),
    };
    Ok(CloudBill {
        month_to_date_usage: amount("month_to_date_usage", &balance.month_to_date_usage)?,
        currency: "USD".to_owned(),
        generated_at: generated_at.to_offset(time::UtcOffset::UTC),
        invoice_preview,
        invoice_period,
        source: "DigitalOcean: /v2/customers/my/balance and the invoice preview".to_owned(),
    })
}
