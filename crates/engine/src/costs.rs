//! The cost rules the API and the metrics share: how an instance counts toward the fleet's
//! run-rate ([`billed`]), and the billing policy of each month a span covers, asked of the
//! provider before the (pure, synchronous) arithmetic of `nephele_core::cost`.

use nephele_core::cost::{self, CostQuery, month_start};
use nephele_core::{InstanceType, Provider, ProviderError};
use time::OffsetDateTime;

/// The billing policy of each month a query spans, asked of the provider before the arithmetic
/// (which is pure and cannot wait for a plugin's answer).
pub struct MonthlyPolicies(Vec<(OffsetDateTime, nephele_core::BillingPolicy)>);

impl MonthlyPolicies {
    pub async fn fetch(
        provider: &dyn Provider,
        instance_type: &InstanceType,
        query: &CostQuery,
    ) -> Result<Self, ProviderError> {
        let mut months = Vec::new();
        for at in cost::policy_instants(query) {
            months.push((month_start(at), provider.billing_policy(instance_type, at).await?));
        }
        Ok(Self(months))
    }

    pub fn at(&self, at: OffsetDateTime) -> nephele_core::BillingPolicy {
        let month = month_start(at);
        let found = self.0.iter().find(|(m, _)| *m == month).or(self.0.first());
        found.map(|(_, p)| p.clone()).unwrap_or_else(nephele_core::BillingPolicy::per_started_hour)
    }
}

/// How an instance counts toward the fleet's run-rate.
pub enum Billed {
    /// At this type's price in the instance's region.
    At(Box<InstanceType>),
    /// Not at all: deleted (EC2 shows terminated instances for about an hour), or stopped on a
    /// cloud that bills only running compute (EC2).
    Free,
    /// Its type has no known price in its region.
    NoPrice,
}

/// How `instance` is billed at `now`: the one rule `GET /api/v1/costs` and `/metrics` share.
pub async fn billed(
    provider: &dyn Provider,
    instance: &nephele_core::Instance,
    types: &[InstanceType],
    now: OffsetDateTime,
) -> Result<Billed, ProviderError> {
    use nephele_core::InstanceStatus;
    if instance.status == InstanceStatus::Archived {
        return Ok(Billed::Free);
    }
    let found = types.iter().find(|t| t.id == instance.instance_type);
    let Some(price) = found.and_then(|t| t.priced_in(&instance.region)) else { return Ok(Billed::NoPrice) };
    if instance.status == InstanceStatus::Stopped
        && provider.billing_policy(&price, now).await?.free_when_stopped
    {
        return Ok(Billed::Free);
    }
    Ok(Billed::At(Box::new(price)))
}
