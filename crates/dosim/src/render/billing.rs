//! An account's usage as DigitalOcean's billing JSON: where exact amounts are rounded to cents.
//!
//! Each amount shown is the exact sum behind it rounded once (half away from zero), never a sum
//! of rounded amounts: the balance's `month_to_date_usage` and an invoice's `amount` round the
//! month's exact total, each item rounds its own amount, each product charge its product's
//! exact total. So shown items can differ from the shown total by rounding, as on any invoice
//! that rounds its lines. The sole exception is `month_to_date_balance`, which the spec defines
//! as the sum of the two balances shown beside it.

use rust_decimal::Decimal;
use time::OffsetDateTime;

use super::timestamp;
use crate::billing::rules::to_cents;
use crate::billing::{self, Item, Month, invoice_id};
use crate::wire::{
    BalanceJson, BillingAddressJson, BillingHistoryJson, InvoiceItemJson, InvoicePreviewJson,
    InvoiceSummaryJson, ProductChargeJson, ProductChargesJson, SimpleChargeJson,
};

/// USD with two places, rounded half away from zero.
pub fn money(amount: Decimal) -> String {
    to_cents(amount).to_string()
}

pub fn balance(account_balance: Decimal, usage: Decimal, now: OffsetDateTime) -> BalanceJson {
    let (account_balance, usage) = (to_cents(account_balance), to_cents(usage));
    BalanceJson {
        month_to_date_balance: (account_balance + usage).to_string(),
        account_balance: account_balance.to_string(),
        month_to_date_usage: usage.to_string(),
        generated_at: timestamp(now),
    }
}

/// An invoice as the list shows it; `updated_at` only for the preview.
pub fn invoice(
    account_uuid: &str,
    month: Month,
    total: Decimal,
    updated_at: Option<OffsetDateTime>,
) -> InvoicePreviewJson {
    let id = invoice_id(account_uuid, month);
    InvoicePreviewJson {
        invoice_uuid: id.uuid,
        invoice_id: id.number,
        amount: money(total),
        invoice_period: month.period(),
        updated_at: updated_at.map(timestamp),
    }
}

/// The billing history of closed months (oldest first) with their exact totals: each month's
/// invoice, issued on the first of the next month, and the payment that settles it there and
/// then (none for an invoice of $0.00).
pub fn history(account_uuid: &str, months: &[(Month, Decimal)]) -> Vec<BillingHistoryJson> {
    let mut out = Vec::with_capacity(months.len() * 2);
    for (month, total) in months {
        let id = invoice_id(account_uuid, *month);
        let date = timestamp(month.end());
        let amount = to_cents(*total);
        out.push(BillingHistoryJson {
            description: format!("Invoice for {}", month.name()),
            amount: amount.to_string(),
            invoice_id: Some(id.number),
            invoice_uuid: Some(id.uuid),
            date: date.clone(),
            kind: "Invoice",
        });
        if !amount.is_zero() {
            out.push(BillingHistoryJson {
                description: "Payment (card on file)".to_owned(),
                amount: (-amount).to_string(),
                invoice_id: None,
                invoice_uuid: None,
                date,
                kind: "Payment",
            });
        }
    }
    out
}

pub fn invoice_item(item: &Item) -> InvoiceItemJson {
    InvoiceItemJson {
        product: item.product.name(),
        resource_uuid: item.resource_uuid.clone(),
        resource_id: item.resource_id.clone(),
        description: item.description.clone(),
        amount: money(item.amount),
        duration: item.duration.to_string(),
        duration_unit: item.unit.name(),
        start_time: timestamp(item.start),
        end_time: timestamp(item.end),
        project_name: item.project_name.clone(),
    }
}

fn nothing(name: &'static str) -> SimpleChargeJson {
    SimpleChargeJson { name, amount: money(Decimal::ZERO) }
}

/// An invoice's summary: its usage by product. The simulator meters no transfer (so no
/// overages), charges no tax and grants no credits.
pub fn summary(account_name: &str, account_uuid: &str, month: Month, items: &[Item]) -> InvoiceSummaryJson {
    let id = invoice_id(account_uuid, month);
    let total = billing::total(items);
    let products = billing::by_product(items)
        .into_iter()
        .map(|(product, (amount, count))| ProductChargeJson {
            amount: money(amount),
            name: product.name(),
            count: count.to_string(),
        })
        .collect();
    InvoiceSummaryJson {
        invoice_uuid: id.uuid,
        invoice_id: id.number,
        billing_period: month.period(),
        amount: money(total),
        user_name: account_name.to_owned(),
        user_billing_address: BillingAddressJson {
            address_line1: "101 Shark Row",
            address_line2: "",
            city: "Atlantis",
            region: "OC",
            postal_code: "12345",
            country_iso2_code: "US",
            created_at: "2019-09-03T16:34:46.000+00:00",
            updated_at: "2019-09-03T16:34:46.000+00:00",
        },
        user_company: format!("{account_name} team"),
        user_email: format!("{account_name}@example.com"),
        product_charges: ProductChargesJson {
            name: "Product usage charges",
            amount: money(total),
            items: products,
        },
        overages: nothing("Overages"),
        taxes: nothing("Taxes"),
        credits_and_adjustments: nothing("Credits & adjustments"),
    }
}
