//! VPCs: made with a range or the first free 10.N.0.0/16, listed with the region's default VPC
//! marked, members (instances and subnets), a firewall made in one, deletes.
//!
//! The Provider trait makes no subnet: the test makes one in moto directly, as a user would in
//! the console.

use nephele_core::{
    CreateResource, OperationId, Provider, ProviderError, Resource, ResourceKind, ResourceName,
};

use crate::support::{Cloud, EAST, subnet};

fn name(text: &str) -> ResourceName {
    ResourceName::parse(text).expect("name")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vpc_takes_a_free_range_and_lists_its_instances_and_subnets() {
    let cloud = Cloud::start().await;
    let vpc = |n: &str, range: Option<&str>| CreateResource::Vpc {
        operation_id: OperationId::new(),
        name: name(n),
        region: EAST.into(),
        ip_range: range.map(str::to_owned),
        description: Some(format!("{n} network")),
    };
    let Resource::Vpc(first) = cloud.create(&vpc("backend", None)).await else { panic!("a VPC") };
    let Resource::Vpc(second) = cloud.create(&vpc("frontend", None)).await else { panic!("a VPC") };
    let Resource::Vpc(chosen) = cloud.create(&vpc("lab", Some("192.168.16.0/20"))).await else {
        panic!("a VPC")
    };
    // moto's default VPC is 172.31.0.0/16: the first free 10.N.0.0/16 is 10.0, then 10.1.
    assert_eq!((first.ip_range.as_str(), second.ip_range.as_str()), ("10.0.0.0/16", "10.1.0.0/16"));
    assert_eq!((chosen.ip_range.as_str(), chosen.name.as_str()), ("192.168.16.0/20", "lab"));
    assert_eq!(first.description.as_deref(), Some("backend network"));
    assert!(!first.default);

    let listed = cloud.list(ResourceKind::Vpc).await;
    let defaults: Vec<&Resource> =
        listed.iter().filter(|v| matches!(v, Resource::Vpc(v) if v.default)).collect();
    assert_eq!(defaults.len(), 2, "one default VPC in each region: {listed:?}");
    assert!(listed.iter().any(|v| v.id() == &first.id && v.name() == "backend"));

    let subnet_id = subnet(&cloud.moto.url, EAST, &first.id.0, "10.0.1.0/24").await;
    let instance = cloud.instance("inside-1", EAST, &[], Some(&subnet_id)).await;
    let _outside = cloud.instance("outside-1", EAST, &[], None).await;
    let mut members = cloud.aws.vpc_members(&first.id).await.expect("members");
    members.sort_by(|a, b| a.kind.cmp(&b.kind));
    let shown: Vec<(&str, &str, &str)> =
        members.iter().map(|m| (m.kind.as_str(), m.id.as_str(), m.name.as_str())).collect();
    assert_eq!(
        shown,
        [("instance", instance.0.as_str(), "inside-1"), ("subnet", subnet_id.as_str(), "10.0.1.0/24")]
    );
    assert!(cloud.aws.vpc_members(&second.id).await.expect("members").is_empty());

    let made = cloud
        .create(&CreateResource::Firewall {
            operation_id: OperationId::new(),
            name: name("backend-fw"),
            description: None,
            inbound: vec![],
            outbound: vec![],
            instance_ids: vec![instance.clone()],
            tags: vec![],
            vpc_id: Some(first.id.0.clone()),
        })
        .await;
    let Resource::Firewall(firewall) = made else { panic!("{made:?}") };
    assert_eq!(
        (firewall.vpc_id.as_deref(), firewall.instance_ids.as_slice()),
        (Some(first.id.0.as_str()), &[instance][..])
    );

    let default = defaults[0].id().clone();
    let refused = cloud.aws.delete_resource(ResourceKind::Vpc, &default, OperationId::new()).await;
    assert!(matches!(refused, Err(ProviderError::Conflict { .. })), "{refused:?}");
    cloud
        .aws
        .delete_resource(ResourceKind::Vpc, &second.id, OperationId::new())
        .await
        .expect("an empty VPC goes");
    let gone = cloud.aws.delete_resource(ResourceKind::Vpc, &second.id, OperationId::new()).await;
    assert!(matches!(gone, Err(ProviderError::NotFound { .. })), "{gone:?}");
    let missing = cloud.aws.get_resource(ResourceKind::Vpc, &second.id).await;
    assert!(matches!(missing, Err(ProviderError::NotFound { .. })), "{missing:?}");
}
