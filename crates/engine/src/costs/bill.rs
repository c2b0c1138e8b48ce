//! The real bill beside the estimate: what each account's cloud says it has billed this month
//! (DigitalOcean's balance and invoice preview), next to Nephele's own month-to-date from the
//! recorded history, with the difference. Each account's bill is read at most once an hour (on
//! the engine's clock), two requests, within the inventory's read budget: a small, fixed part of
//! the rate limit whatever the number of callers. A cloud that exposes no bill (EC2 here: moto's
//! Cost Explorer answers only what a test tells it, which would prove nothing) is "estimate only".

use std::collections::HashMap;
use std::sync::Mutex;

use nephele_core::bill::CloudBill;
use nephele_core::cost::month_start;
use rust_decimal::Decimal;
use time::OffsetDateTime;

use crate::Engine;
use crate::costs::history::ms;

/// How long a bill read is kept.
const BILL_LIFE: time::Duration = time::Duration::HOUR;

/// A bill as read: when (engine clock), and the bill, none, or why it could not be read.
type Read = (OffsetDateTime, Result<Option<CloudBill>, String>);

/// The last bill read of each account.
#[derive(Default)]
pub struct Bills {
    read: Mutex<HashMap<String, Read>>,
}

/// How an account's bill stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillStatus {
    /// The cloud's figure is shown beside Nephele's.
    Reconciled,
    /// The cloud exposes no bill Nephele reads: Nephele's figure is an estimate only.
    EstimateOnly,
    /// The cloud's bill could not be read (the reason is in `note`).
    Unavailable,
}

impl BillStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reconciled => "reconciled",
            Self::EstimateOnly => "estimate_only",
            Self::Unavailable => "unavailable",
        }
    }
}

/// One account's bill beside Nephele's month-to-date.
#[derive(Debug, Clone)]
pub struct AccountBill {
    pub account: String,
    pub status: BillStatus,
    pub cloud: Option<CloudBill>,
    /// Nephele's month-to-date from the recorded history, per currency.
    pub nephele_month_to_date: Decimal,
    pub currency: String,
    /// `cloud - nephele`, when both are known in one currency.
    pub difference: Option<Decimal>,
    /// When the cloud's figures were read (engine clock).
    pub read_at: Option<OffsetDateTime>,
    pub note: Option<String>,
}

/// Every account `admit` allows, with its bill (read now if the last read is an hour old).
pub async fn bills(engine: &Engine, admit: impl Fn(&str) -> bool) -> Vec<AccountBill> {
    let now = engine.spend.clock.now();
    let month = month_start(now);
    let buckets = engine.store.cost_buckets(ms(month), ms(now) + 3_600_000).await.unwrap_or_default();
    let mut out = Vec::new();
    for (account, provider) in engine.providers.all().filter(|(name, _)| admit(name)) {
        let account = &account;
        let cached = engine
            .spend
            .bills
            .read
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(account)
            .cloned()
            .filter(|(at, _)| now - *at < BILL_LIFE && *at <= now);
        let (read_at, read) = match cached {
            Some(hit) => hit,
            None => {
                let fetched =
                    match tokio::time::timeout(engine.inventory.read_budget(), provider.cloud_bill()).await {
                        Ok(Ok(bill)) => Ok(bill),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(_) => Err("the cloud did not answer within the read budget".to_owned()),
                    };
                // A failure is tried again at the next ask, not an hour later.
                if fetched.is_ok() {
                    engine
                        .spend
                        .bills
                        .read
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(account.clone(), (now, fetched.clone()));
                }
                (now, fetched)
            }
        };
        let currency = match &read {
            Ok(Some(bill)) => bill.currency.clone(),
            _ => buckets
                .iter()
                .find(|b| &b.key.account == account)
                .map_or_else(|| "USD".to_owned(), |b| b.key.currency.clone()),
        };
        let nephele: Decimal = buckets
            .iter()
            .filter(|b| &b.key.account == account && b.key.currency == currency)
            .map(|b| b.amount)
            .sum();
        let bill = match read {
            Ok(Some(cloud)) => AccountBill {
                account: account.clone(),
                status: BillStatus::Reconciled,
                difference: Some(cloud.month_to_date_usage - nephele_core::cost::to_cents(nephele)),
                cloud: Some(cloud),
                nephele_month_to_date: nephele,
                currency,
                read_at: Some(read_at),
                note: None,
            },
            Ok(None) => AccountBill {
                account: account.clone(),
                status: BillStatus::EstimateOnly,
                cloud: None,
                nephele_month_to_date: nephele,
                currency,
                difference: None,
                read_at: None,
                note: Some(format!(
                    "{} does not expose its bill to Nephele: the month-to-date is Nephele's estimate only",
                    provider.info().display_name
                )),
            },
            Err(reason) => AccountBill {
                account: account.clone(),
                status: BillStatus::Unavailable,
                cloud: None,
                nephele_month_to_date: nephele,
                currency,
                difference: None,
                read_at: None,
                note: Some(format!("the cloud's bill could not be read: {reason}")),
            },
        };
        out.push(bill);
    }
    out
}
