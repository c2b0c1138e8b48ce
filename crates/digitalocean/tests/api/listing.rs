//! Listing at the physical page limit: ceil(N/200) requests, later pages concurrently.

use std::collections::HashSet;

use dosim::Faults;
use nephele_core::{InstanceFilter, InstanceStatus, OperationId, Provider};

use crate::helpers::{create_request, requests, spawn};

#[tokio::test]
async fn listing_n_droplets_returns_each_once_with_ceil_n_over_200_requests() {
    for n in [0usize, 1, 200, 201, 10_000] {
        let cloud = spawn(n).await;
        let instances = cloud.client.list_instances(&InstanceFilter::default()).await.expect("list");
        assert_eq!(instances.len(), n, "N = {n}");
        let ids: HashSet<_> = instances.iter().map(|i| i.id.clone()).collect();
        assert_eq!(ids.len(), n, "every droplet exactly once, N = {n}");
        // An empty account still takes one request to learn that it is empty.
        let expected = n.div_ceil(200).max(1) as u64;
        assert_eq!(requests(&cloud, "droplets_list"), expected, "N = {n}");
        assert!(instances.iter().all(|i| i.status == InstanceStatus::Running));
    }
}

#[tokio::test]
async fn pages_after_the_first_are_fetched_concurrently() {
    let cloud = spawn(10_000).await;
    cloud.sim.set_faults(Faults { latency_ms: 30, ..Faults::default() });
    let instances = cloud.client.list_instances(&InstanceFilter::default()).await.expect("list");
    assert_eq!(instances.len(), 10_000);
    let stats = cloud.sim.stats();
    // 49 pages after the first; with a concurrency of 50 they are all in flight together.
    assert!(stats.max_in_flight >= 40, "max in flight was {}", stats.max_in_flight);
}

#[tokio::test]
async fn a_list_read_again_asks_for_every_page_at_once() {
    let cloud = spawn(10_000).await;
    // Long enough that 50 requests sent together are all being served together, however busy
    // the machine is.
    cloud.sim.set_faults(Faults { latency_ms: 1_000, ..Faults::default() });
    cloud.client.list_instances(&InstanceFilter::default()).await.expect("first list");
    // The first read learns the count from page 1: at most the 49 pages after it in flight.
    assert!(cloud.sim.stats().max_in_flight <= 49, "max in flight was {}", cloud.sim.stats().max_in_flight);
    let instances = cloud.client.list_instances(&InstanceFilter::default()).await.expect("second list");
    assert_eq!(instances.len(), 10_000);
    assert_eq!(requests(&cloud, "droplets_list"), 100, "50 pages each time, none twice");
    // The second asks for all 50 together, page 1 among them: one round trip instead of two.
    assert_eq!(cloud.sim.stats().max_in_flight, 50);
}

#[tokio::test]
async fn a_list_read_again_stays_exact_when_the_fleet_shrinks_or_grows() {
    let cloud = spawn(401).await;
    // (listed, distinct, requests the list took)
    let list = async || {
        let before = requests(&cloud, "droplets_list");
        let listed = cloud.client.list_instances(&InstanceFilter::default()).await.expect("list");
        let distinct = listed.iter().map(|i| i.id.clone()).collect::<HashSet<_>>().len();
        (listed, distinct, requests(&cloud, "droplets_list") - before)
    };
    let (first, _, asked) = list().await;
    assert_eq!((first.len(), asked), (401, 3));
    for gone in &first[..2] {
        cloud.client.delete_instance(&gone.id, OperationId::new()).await.expect("delete");
    }
    // 399 droplets: the third page asked for from memory comes back empty, and nothing is lost.
    let (shrunk, distinct, asked) = list().await;
    assert_eq!((shrunk.len(), distinct, asked), (399, 399, 3));
    let (again, _, asked) = list().await;
    assert_eq!((again.len(), asked), (399, 2), "two pages now");
    let names: Vec<String> = (0..10).map(|i| format!("grown-{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    cloud.client.create_instances(&create_request(&names)).await.expect("create");
    // 409: the two remembered pages, then the third that page 1's total asks for.
    let (grown, distinct, asked) = list().await;
    assert_eq!((grown.len(), distinct, asked), (409, 409, 3));
}

#[tokio::test]
async fn filters_by_tag_go_to_digitalocean_and_the_rest_are_applied_locally() {
    let cloud = spawn(450).await;
    let tagged = cloud
        .client
        .list_instances(&InstanceFilter { tag: Some("dosim".into()), ..Default::default() })
        .await
        .expect("list");
    assert_eq!(tagged.len(), 450);
    let in_nyc1 = cloud
        .client
        .list_instances(&InstanceFilter { region: Some("nyc1".into()), ..Default::default() })
        .await
        .expect("list");
    // dosim spreads its droplets over 10 regions in turn.
    assert_eq!(in_nyc1.len(), 45);
    assert!(in_nyc1.iter().all(|i| i.region == "nyc1"));
}

#[tokio::test]
async fn instances_keep_what_a_user_needs() {
    let cloud = spawn(1).await;
    let instance = cloud.client.list_instances(&InstanceFilter::default()).await.expect("list").remove(0);
    assert_eq!(instance.name, "sim-000001");
    assert_eq!(instance.provider_status, "active");
    assert_eq!(instance.image, "ubuntu-24-04-x64");
    assert!(instance.public_ipv4.is_some() && instance.private_ipv4.is_some());
    assert_eq!(instance.tags, vec!["dosim".to_owned()]);
    assert!(instance.vcpus >= 1 && instance.memory_mib >= 512 && instance.disk_gib >= 10);
}

#[tokio::test]
async fn the_catalogue_maps_prices_to_exact_decimals() {
    let cloud = spawn(0).await;
    let types = cloud.client.list_instance_types().await.expect("sizes");
    let small = types.iter().find(|t| t.id == "s-1vcpu-1gb").expect("s-1vcpu-1gb");
    assert_eq!(small.price_monthly.to_string(), "6");
    assert_eq!(small.price_hourly.to_string(), "0.00893");
    assert_eq!(small.currency, "USD");
    let gpu = types.iter().find(|t| t.gpus > 0).expect("a GPU size");
    assert_eq!(gpu.gpus, 1);
    let regions = cloud.client.list_regions().await.expect("regions");
    assert_eq!(regions.len(), 10);
    let images = cloud.client.list_images().await.expect("images");
    assert!(images.iter().any(|i| i.slug.as_deref() == Some("ubuntu-20-04-x64")));
}
