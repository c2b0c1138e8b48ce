//! Balance, billing history, invoices, invoice items and invoice summaries, as the spec's
//! Billing tag shapes them. Every amount is a string of USD with two places.

use serde::Serialize;
use serde_json::Value;

/// `GET /v2/customers/my/balance`.
#[derive(Serialize)]
pub struct BalanceJson {
    pub month_to_date_balance: String,
    pub account_balance: String,
    pub month_to_date_usage: String,
    pub generated_at: String,
}

/// One entry of `GET /v2/customers/my/billing_history`.
#[derive(Serialize)]
pub struct BillingHistoryJson {
    pub description: String,
    pub amount: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_uuid: Option<String>,
    pub date: String,
    /// `Invoice` or `Payment` (of the spec's enum).
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// An invoice in the list, and the preview (which alone has `updated_at`).
#[derive(Serialize)]
pub struct InvoicePreviewJson {
    pub invoice_uuid: String,
    pub invoice_id: String,
    pub amount: String,
    pub invoice_period: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// `GET /v2/customers/my/invoices`: the closed months' invoices, the preview, and paging.
#[derive(Serialize)]
pub struct InvoiceListJson {
    pub invoices: Vec<InvoicePreviewJson>,
    pub invoice_preview: InvoicePreviewJson,
    pub links: Value,
    pub meta: Value,
}

/// One line of `GET /v2/customers/my/invoices/{invoice_uuid}`.
#[derive(Serialize)]
pub struct InvoiceItemJson {
    pub product: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_uuid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    pub description: String,
    pub amount: String,
    pub duration: String,
    pub duration_unit: &'static str,
    pub start_time: String,
    pub end_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_name: Option<String>,
}

#[derive(Serialize)]
pub struct BillingAddressJson {
    pub address_line1: &'static str,
    pub address_line2: &'static str,
    pub city: &'static str,
    pub region: &'static str,
    pub postal_code: &'static str,
    pub country_iso2_code: &'static str,
    pub created_at: &'static str,
    pub updated_at: &'static str,
}

#[derive(Serialize)]
pub struct ProductChargeJson {
    pub amount: String,
    pub name: &'static str,
    pub count: String,
}

#[derive(Serialize)]
pub struct ProductChargesJson {
    pub name: &'static str,
    pub amount: String,
    pub items: Vec<ProductChargeJson>,
}

#[derive(Serialize)]
pub struct SimpleChargeJson {
    pub name: &'static str,
    pub amount: String,
}

/// `GET /v2/customers/my/invoices/{invoice_uuid}/summary`.
#[derive(Serialize)]
pub struct InvoiceSummaryJson {
    pub invoice_uuid: String,
    pub invoice_id: String,
    pub billing_period: String,
    pub amount: String,
    pub user_name: String,
    pub user_billing_address: BillingAddressJson,
    pub user_company: String,
    pub user_email: String,
    pub product_charges: ProductChargesJson,
    pub overages: SimpleChargeJson,
    pub taxes: SimpleChargeJson,
    pub credits_and_adjustments: SimpleChargeJson,
}
