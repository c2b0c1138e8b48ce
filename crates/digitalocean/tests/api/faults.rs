//! Surviving DigitalOcean's bad days: 20% of requests failing with 5xx or dropped connections.

use std::collections::HashSet;

use dosim::Faults;
use nephele_core::{InstanceFilter, Provider};

use crate::helpers::{create_request, sim_config, spawn_with};

fn twenty_percent_failing() -> Faults {
    Faults { error_rate: 0.10, drop_rate: 0.10, ..Faults::default() }
}

#[tokio::test]
async fn list_and_get_calls_all_succeed_with_the_right_data() {
    let cloud = spawn_with(sim_config(300), |c| c.max_attempts = 10).await;
    let expected = cloud.client.list_instances(&InstanceFilter::default()).await.expect("baseline");
    cloud.sim.set_faults(twenty_percent_failing());
    for round in 0..100 {
        let listed =
            cloud.client.list_instances(&InstanceFilter::default()).await.expect("list under faults");
        assert_eq!(listed.len(), 300, "round {round}");
        assert_eq!(listed.iter().map(|i| &i.id).collect::<HashSet<_>>().len(), 300);
        let wanted = &expected[round * 3];
        let got = cloud.client.get_instance(&wanted.id).await.expect("get under faults");
        assert_eq!(got.name, wanted.name);
    }
    let stats = cloud.sim.stats();
    assert!(stats.injected_errors > 0 && stats.dropped_connections > 0, "faults happened: {stats:?}");
}

#[tokio::test]
async fn one_hundred_creates_leave_exactly_one_hundred_droplets() {
    let cloud = spawn_with(sim_config(0), |c| c.max_attempts = 10).await;
    cloud.sim.set_faults(twenty_percent_failing());
    for i in 0..100 {
        let name = format!("fault-{i:03}");
        let created =
            cloud.client.create_instances(&create_request(&[&name])).await.expect("create under faults");
        assert_eq!(created.len(), 1);
        assert_eq!(created[0].name, name);
    }
    cloud.sim.set_faults(Faults::default());
    let all = cloud.client.list_instances(&InstanceFilter::default()).await.expect("list");
    assert_eq!(all.len(), 100, "no duplicates and no phantom failures");
    let names: HashSet<_> = all.iter().map(|i| i.name.clone()).collect();
    assert_eq!(names.len(), 100);
    let metrics = cloud.client.metrics().snapshot();
    assert!(metrics.ambiguous_creates > 0, "the ambiguous path was exercised: {metrics:?}");
    assert!(metrics.adopted_instances > 0, "dropped answers were adopted, not re-created: {metrics:?}");
}
