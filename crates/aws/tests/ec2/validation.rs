//! Requests refused before anything is changed, naming the field. moto would have carried out
//! several of them (a volume of 0 GiB, a zone that does not exist, a shrink), so these
//! refusals are Nephele's own.

use nephele_core::{
    CreateResource, FirewallRule, InstanceId, OperationId, Ports, Protocol, Provider, ProviderError,
    ResourceAction, ResourceId, ResourceName, RuleTargets, SnapshotSourceKind,
};

use crate::support::{Cloud, EAST, PUBLIC_KEY};

fn name(text: &str) -> ResourceName {
    ResourceName::parse(text).expect("name")
}

fn volume(region: &str, size_gib: u64, volume_type: Option<&str>) -> CreateResource {
    CreateResource::Volume {
        operation_id: OperationId::new(),
        name: name("data"),
        region: region.into(),
        size_gib,
        snapshot_id: None,
        volume_type: volume_type.map(str::to_owned),
        description: None,
        tags: vec![],
    }
}

fn firewall(
    rule: FirewallRule,
    tags: &[&str],
    instance_ids: &[&str],
    vpc_id: Option<&str>,
) -> CreateResource {
    CreateResource::Firewall {
        operation_id: OperationId::new(),
        name: name("fw"),
        description: None,
        inbound: vec![rule],
        outbound: vec![],
        instance_ids: instance_ids.iter().map(|i| InstanceId((*i).into())).collect(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        vpc_id: vpc_id.map(str::to_owned),
    }
}

fn ssh_from(addresses: &[&str]) -> FirewallRule {
    FirewallRule {
        protocol: Protocol::Tcp,
        ports: Ports::Range { from: 22, to: 22 },
        targets: RuleTargets {
            addresses: addresses.iter().map(|a| (*a).to_owned()).collect(),
            ..Default::default()
        },
    }
}

fn field_of(result: Result<impl std::fmt::Debug, ProviderError>) -> String {
    match result {
        Err(ProviderError::InvalidInput { field: Some(field), .. }) => field,
        other => panic!("not refused naming a field: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_creates_are_refused_naming_the_field_and_change_nothing() {
    let cloud = Cloud::start().await;
    let unknown_instance = "i-0123456789abcdef0";
    let by_instance = FirewallRule {
        protocol: Protocol::Tcp,
        ports: Ports::All,
        targets: RuleTargets {
            instance_ids: vec![InstanceId(unknown_instance.into())],
            ..Default::default()
        },
    };
    let cases: Vec<(CreateResource, &str)> = vec![
        (volume(EAST, 0, None), "size_gib"),
        (volume(EAST, 16_385, None), "size_gib"),
        (volume(EAST, 100, Some("io2")), "volume_type"),
        (volume(EAST, 100, Some("st1")), "size_gib"),
        (volume("ap-south-1", 100, None), "region"),
        (volume("us-east-1z", 100, None), "region"),
        (
            CreateResource::Volume {
                operation_id: OperationId::new(),
                name: name("data"),
                region: EAST.into(),
                size_gib: 10,
                snapshot_id: Some(ResourceId("snap-0123456789abcdef0".into())),
                volume_type: None,
                description: None,
                tags: vec![],
            },
            "snapshot_id",
        ),
        (
            CreateResource::Volume {
                operation_id: OperationId::new(),
                name: name("data"),
                region: EAST.into(),
                size_gib: 10,
                snapshot_id: None,
                volume_type: None,
                description: Some("two\nlines".into()),
                tags: vec!["Name:sneaky".into()],
            },
            "description",
        ),
        (
            CreateResource::Snapshot {
                operation_id: OperationId::new(),
                name: name("snap"),
                source_kind: SnapshotSourceKind::Volume,
                source_id: "vol-0123456789abcdef0".into(),
                tags: vec![],
            },
            "source_id",
        ),
        (
            CreateResource::Snapshot {
                operation_id: OperationId::new(),
                name: name("snap"),
                source_kind: SnapshotSourceKind::Instance,
                source_id: unknown_instance.into(),
                tags: vec![],
            },
            "source_id",
        ),
        (
            CreateResource::Snapshot {
                operation_id: OperationId::new(),
                name: name("snap"),
                source_kind: SnapshotSourceKind::Volume,
                source_id: "vol-0123456789abcdef0".into(),
                tags: vec!["has space".into()],
            },
            "tags[0]",
        ),
        (
            CreateResource::SshKey {
                operation_id: OperationId::new(),
                name: "a/b".into(),
                public_key: PUBLIC_KEY.into(),
            },
            "name",
        ),
        (
            CreateResource::SshKey {
                operation_id: OperationId::new(),
                name: "old".into(),
                public_key: "ssh-dss AAAAB3NzaC1kc3MAAACBAP== old@host".into(),
            },
            "public_key",
        ),
        (firewall(ssh_from(&["0.0.0.0/0"]), &["web"], &[], None), "tags"),
        (
            CreateResource::Firewall {
                operation_id: OperationId::new(),
                name: name("sg-web"),
                description: None,
                inbound: vec![],
                outbound: vec![],
                instance_ids: vec![],
                tags: vec![],
                vpc_id: None,
            },
            "name",
        ),
        (firewall(by_instance, &[], &[], None), "inbound[0].targets.instance_ids"),
        (firewall(ssh_from(&["10.0.0.1/8"]), &[], &[], None), "inbound[0].targets.addresses[0]"),
        (firewall(ssh_from(&["0.0.0.0/0"]), &[], &["web-1"], None), "instance_ids[0]"),
        (firewall(ssh_from(&["0.0.0.0/0"]), &[], &[], Some("vpc-0123456789abcdef0")), "vpc_id"),
        (
            CreateResource::ReservedIp {
                operation_id: OperationId::new(),
                region: "ap-south-1".into(),
                instance_id: None,
            },
            "region",
        ),
        (
            CreateResource::ReservedIp {
                operation_id: OperationId::new(),
                region: EAST.into(),
                instance_id: Some(InstanceId(unknown_instance.into())),
            },
            "instance_id",
        ),
        (
            CreateResource::Vpc {
                operation_id: OperationId::new(),
                name: name("net"),
                region: EAST.into(),
                ip_range: Some("10.0.0.0/8".into()),
                description: None,
            },
            "ip_range",
        ),
    ];
    for (request, field) in cases {
        assert_eq!(field_of(cloud.aws.create_resource(&request).await), field, "{request:?}");
    }
    assert_eq!(cloud.proxy.changes(), Vec::<String>::new(), "nothing was changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_actions_are_refused_naming_the_field_and_change_nothing() {
    let cloud = Cloud::start().await;
    let made = cloud.create(&volume(EAST, 100, None)).await;
    let fw = cloud.create(&firewall(ssh_from(&["0.0.0.0/0"]), &[], &[], None)).await;
    let before = cloud.proxy.changes().len();
    let volume_id = made.id().clone();
    let firewall_id = fw.id().clone();
    let cases: Vec<(ResourceAction, &str)> = vec![
        (ResourceAction::ResizeVolume { volume_id: volume_id.clone(), size_gib: 50 }, "size_gib"),
        (ResourceAction::ResizeVolume { volume_id: volume_id.clone(), size_gib: 20_000 }, "size_gib"),
        (
            ResourceAction::AttachVolume {
                volume_id: volume_id.clone(),
                instance_id: InstanceId("i-0123456789abcdef0".into()),
            },
            "instance_id",
        ),
        (
            ResourceAction::SetFirewallRules {
                firewall_id: firewall_id.clone(),
                inbound: vec![],
                outbound: vec![FirewallRule {
                    protocol: Protocol::Icmp,
                    ports: Ports::Range { from: 8, to: 8 },
                    targets: RuleTargets { addresses: vec!["0.0.0.0/0".into()], ..Default::default() },
                }],
            },
            "outbound[0].ports",
        ),
        (
            ResourceAction::AddFirewallTags { firewall_id: firewall_id.clone(), tags: vec!["web".into()] },
            "tags",
        ),
        (ResourceAction::RemoveFirewallTags { firewall_id, tags: vec!["web".into()] }, "tags"),
    ];
    for (action, field) in cases {
        assert_eq!(
            field_of(cloud.aws.resource_action(&action, OperationId::new()).await),
            field,
            "{action:?}"
        );
    }
    assert_eq!(cloud.proxy.changes().len(), before, "nothing was changed: {:?}", cloud.proxy.changes());
}
