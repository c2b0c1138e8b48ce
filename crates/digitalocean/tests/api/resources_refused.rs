//! Resource requests DigitalOcean would refuse are refused here first, naming the field, before
//! any of the rate budget is spent.

use nephele_core::{
    CreateResource, InstanceId, OperationId, Ports, Protocol, Provider, ProviderError, ResourceAction,
    ResourceId, ResourceKind, RuleTargets, SnapshotSourceKind,
};

use crate::helpers::{requests, spawn};
use crate::resources::{firewall_request, name, rule, volume_request};

fn refused_naming(result: Result<impl std::fmt::Debug, ProviderError>, field: &str) {
    match result {
        Err(ProviderError::InvalidInput { field: Some(f), .. }) if f == field => {}
        other => panic!("expected invalid input in `{field}`, got {other:?}"),
    }
}

fn firewall_with(change: impl FnOnce(&mut CreateResource)) -> CreateResource {
    let mut request = firewall_request("fw");
    change(&mut request);
    request
}

fn set_firewall(
    f: impl FnOnce(&mut Vec<nephele_core::FirewallRule>, &mut Vec<InstanceId>, &mut Vec<String>),
) -> impl FnOnce(&mut CreateResource) {
    move |request| {
        if let CreateResource::Firewall { inbound, instance_ids, tags, .. } = request {
            f(inbound, instance_ids, tags);
        }
    }
}

#[tokio::test]
async fn creates_digitalocean_would_refuse_cost_no_call() {
    let cloud = spawn(0).await;
    let any = || OperationId::new();
    let cases: Vec<(&str, CreateResource)> = vec![
        ("size_gib", volume_request("v", 0)),
        ("size_gib", volume_request("v", 16_385)),
        ("region", {
            let mut r = volume_request("v", 10);
            if let CreateResource::Volume { region, .. } = &mut r {
                *region = "NYC 1".into();
            }
            r
        }),
        ("tags", {
            let mut r = volume_request("v", 10);
            if let CreateResource::Volume { tags, .. } = &mut r {
                tags.push("has space".into());
            }
            r
        }),
        (
            "source_id",
            CreateResource::Snapshot {
                operation_id: any(),
                name: name("s"),
                source_kind: SnapshotSourceKind::Instance,
                source_id: "web-1".into(),
                tags: vec![],
            },
        ),
        (
            "source_id",
            CreateResource::Snapshot {
                operation_id: any(),
                name: name("s"),
                source_kind: SnapshotSourceKind::Volume,
                source_id: "a/../b?x".into(),
                tags: vec![],
            },
        ),
        (
            "tags",
            CreateResource::Snapshot {
                operation_id: any(),
                name: name("s"),
                source_kind: SnapshotSourceKind::Instance,
                source_id: "7".into(),
                tags: vec!["keep".into()],
            },
        ),
        (
            "public_key",
            CreateResource::SshKey { operation_id: any(), name: "k".into(), public_key: "not a key".into() },
        ),
        (
            "public_key",
            CreateResource::SshKey {
                operation_id: any(),
                name: "k".into(),
                public_key: format!("ssh-rsa {}", "A".repeat(20_000)),
            },
        ),
        (
            "name",
            CreateResource::SshKey {
                operation_id: any(),
                name: " ".into(),
                public_key: crate::resources::PUBLIC_KEY.into(),
            },
        ),
        (
            "name",
            CreateResource::Firewall {
                operation_id: any(),
                name: name("f"),
                description: None,
                inbound: vec![rule(Protocol::Tcp, Ports::All, "0.0.0.0/0")],
                outbound: vec![],
                instance_ids: vec![],
                tags: vec![],
                vpc_id: None,
            },
        ),
        ("inbound", firewall_with(set_firewall(|inbound, _, _| inbound.clear())).pipe_clear_outbound()),
        (
            "inbound",
            firewall_with(set_firewall(|inbound, _, _| {
                *inbound = vec![rule(Protocol::Tcp, Ports::All, "0.0.0.0/0"); 50]
            })),
        ),
        (
            "inbound[0].ports",
            firewall_with(set_firewall(|inbound, _, _| inbound[0].ports = Ports::Range { from: 90, to: 80 })),
        ),
        (
            "inbound[0].ports",
            firewall_with(set_firewall(|inbound, _, _| {
                *inbound = vec![rule(Protocol::Icmp, Ports::Range { from: 1, to: 1 }, "0.0.0.0/0")]
            })),
        ),
        (
            "inbound[0].targets",
            firewall_with(set_firewall(|inbound, _, _| inbound[0].targets = RuleTargets::default())),
        ),
        (
            "inbound[0].targets.addresses",
            firewall_with(set_firewall(|inbound, _, _| {
                inbound[0].targets.addresses = vec!["example.com".into()]
            })),
        ),
        (
            "instance_ids",
            firewall_with(set_firewall(|_, ids, _| {
                *ids = (1..=11).map(|i| InstanceId(i.to_string())).collect()
            })),
        ),
        (
            "tags",
            firewall_with(set_firewall(|_, _, tags| *tags = (1..=6).map(|i| format!("t{i}")).collect())),
        ),
        (
            "vpc_id",
            firewall_with(|r| {
                if let CreateResource::Firewall { vpc_id, .. } = r {
                    *vpc_id = Some("v".into())
                }
            }),
        ),
        (
            "region",
            CreateResource::ReservedIp { operation_id: any(), region: String::new(), instance_id: None },
        ),
        (
            "instance_id",
            CreateResource::ReservedIp {
                operation_id: any(),
                region: "nyc1".into(),
                instance_id: Some(InstanceId("i-123".into())),
            },
        ),
        (
            "ip_range",
            CreateResource::Vpc {
                operation_id: any(),
                name: name("n"),
                region: "nyc1".into(),
                ip_range: Some("8.8.8.0/24".into()),
                description: None,
            },
        ),
        (
            "description",
            CreateResource::Vpc {
                operation_id: any(),
                name: name("n"),
                region: "nyc1".into(),
                ip_range: None,
                description: Some("d".repeat(256)),
            },
        ),
    ];
    for (field, request) in cases {
        refused_naming(cloud.client.create_resource(&request).await, field);
    }
    assert!(cloud.sim.stats().requests.is_empty(), "no upstream request: {:?}", cloud.sim.stats().requests);
}

trait ClearOutbound {
    fn pipe_clear_outbound(self) -> Self;
}

impl ClearOutbound for CreateResource {
    fn pipe_clear_outbound(mut self) -> Self {
        if let CreateResource::Firewall { outbound, .. } = &mut self {
            outbound.clear();
        }
        self
    }
}

#[tokio::test]
async fn actions_digitalocean_would_refuse_cost_no_call() {
    let cloud = spawn(0).await;
    let id = || ResourceId("0b3d0a6e-0000-4000-8000-000000000001".into());
    let cases = [
        ("size_gib", ResourceAction::ResizeVolume { volume_id: id(), size_gib: 20_000 }),
        (
            "instance_id",
            ResourceAction::AttachVolume { volume_id: id(), instance_id: InstanceId("web".into()) },
        ),
        (
            "instance_id",
            ResourceAction::AssignReservedIp {
                ip_id: ResourceId("203.0.113.9".into()),
                instance_id: InstanceId("0".into()),
            },
        ),
        ("instance_ids", ResourceAction::AddFirewallInstances { firewall_id: id(), instance_ids: vec![] }),
        (
            "instance_ids",
            ResourceAction::AddFirewallInstances {
                firewall_id: id(),
                instance_ids: (1..=11).map(|i| InstanceId(i.to_string())).collect(),
            },
        ),
        (
            "tags",
            ResourceAction::AddFirewallTags { firewall_id: id(), tags: vec!["no spaces allowed".into()] },
        ),
        (
            "inbound",
            ResourceAction::SetFirewallRules {
                firewall_id: id(),
                inbound: vec![rule(Protocol::Udp, Ports::All, "::/0"); 51],
                outbound: vec![],
            },
        ),
    ];
    for (field, action) in cases {
        refused_naming(cloud.client.resource_action(&action, OperationId::new()).await, field);
    }
    // Ids that cannot name a resource (or would change the URL) are not found, without a call.
    for (kind, bad) in [
        (ResourceKind::Volume, "x?page=2"),
        (ResourceKind::ReservedIp, "not-an-ip"),
        (ResourceKind::Firewall, "../droplets"),
    ] {
        let result = cloud.client.get_resource(kind, &ResourceId(bad.into())).await;
        assert!(matches!(result, Err(ProviderError::NotFound { .. })), "{kind} {bad}: {result:?}");
    }
    assert!(cloud.sim.stats().requests.is_empty(), "no upstream request: {:?}", cloud.sim.stats().requests);
}

#[tokio::test]
async fn a_volume_is_never_asked_to_shrink() {
    let cloud = spawn(0).await;
    let made = cloud.client.create_resource(&volume_request("shrinking", 100)).await.expect("volume");
    let shrink = ResourceAction::ResizeVolume { volume_id: made.id().clone(), size_gib: 50 };
    refused_naming(cloud.client.resource_action(&shrink, OperationId::new()).await, "size_gib");
    assert_eq!(requests(&cloud, "volumeActions_post_byId"), 0, "read, then refused without sending");
}
