//! Every resource kind through the Provider trait against dosim: create, get, list, act, delete.

use nephele_core::pricing::{HOURS_PER_MONTH, hourly_price};
use nephele_core::{
    AssociatedResources, Billable, CreateResource, FirewallRule, Grade, InstanceId, OperationId, Ports,
    PriceUnit, Protocol, Provider, ProviderError, Resource, ResourceAction, ResourceId, ResourceKind,
    ResourceName, RuleTargets, SnapshotSourceKind,
};
use rust_decimal::Decimal;

use crate::helpers::{TestCloud, droplet_in, requests, spawn, wait_for};

pub fn name(raw: &str) -> ResourceName {
    ResourceName::parse(raw).expect("valid name")
}

pub fn volume_request(raw_name: &str, size_gib: u64) -> CreateResource {
    CreateResource::Volume {
        operation_id: OperationId::new(),
        name: name(raw_name),
        region: "nyc1".into(),
        size_gib,
        snapshot_id: None,
        volume_type: None,
        description: Some("test data".into()),
        tags: vec!["team:data".into()],
    }
}

pub fn rule(protocol: Protocol, ports: Ports, address: &str) -> FirewallRule {
    FirewallRule {
        protocol,
        ports,
        targets: RuleTargets { addresses: vec![address.into()], ..RuleTargets::default() },
    }
}

pub fn firewall_request(raw_name: &str) -> CreateResource {
    CreateResource::Firewall {
        operation_id: OperationId::new(),
        name: name(raw_name),
        description: None,
        inbound: vec![rule(Protocol::Tcp, Ports::Range { from: 22, to: 22 }, "0.0.0.0/0")],
        outbound: vec![rule(Protocol::Tcp, Ports::All, "0.0.0.0/0")],
        instance_ids: vec![],
        tags: vec![],
        vpc_id: None,
    }
}

pub const PUBLIC_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGnephelexamplekeymaterial0123456789abcdefXYZ test@nephele";

async fn create(cloud: &TestCloud, request: &CreateResource) -> Resource {
    cloud.client.create_resource(request).await.expect("create")
}

fn volume(resource: &Resource) -> &nephele_core::Volume {
    let Resource::Volume(v) = resource else { panic!("not a volume: {resource:?}") };
    v
}

async fn act(cloud: &TestCloud, action: ResourceAction) {
    if let Err(error) = cloud.client.resource_action(&action, OperationId::new()).await {
        panic!("{}: {error:?}", action.name());
    }
}

fn is_gone(result: Result<Resource, ProviderError>) -> bool {
    matches!(result, Err(ProviderError::NotFound { .. }))
}

#[tokio::test]
async fn a_volume_is_created_attached_resized_detached_and_deleted() {
    let cloud = spawn(20).await;
    let droplet = droplet_in(&cloud, "nyc1").await;
    let made = create(&cloud, &volume_request("data-1", 100)).await;
    let id = made.id().clone();
    assert_eq!((volume(&made).size_gib, volume(&made).region.as_str()), (100, "nyc1"));
    assert!(made.tags().contains(&"team:data".to_owned()));
    assert_eq!(volume(&made).status, nephele_core::VolumeStatus::Available);
    let listed = cloud.client.list_resources(ResourceKind::Volume).await.expect("list");
    assert_eq!(listed.iter().filter(|r| r.id() == &id).count(), 1);

    let attach = ResourceAction::AttachVolume { volume_id: id.clone(), instance_id: droplet.id.clone() };
    act(&cloud, attach.clone()).await;
    let attached = wait_for(&cloud, ResourceKind::Volume, &id, |r| attach.is_done(r)).await;
    assert_eq!(volume(&attached).status, nephele_core::VolumeStatus::InUse);

    let resize = ResourceAction::ResizeVolume { volume_id: id.clone(), size_gib: 200 };
    act(&cloud, resize.clone()).await;
    wait_for(&cloud, ResourceKind::Volume, &id, |r| resize.is_done(r)).await;

    let detach = ResourceAction::DetachVolume { volume_id: id.clone(), instance_id: droplet.id.clone() };
    act(&cloud, detach.clone()).await;
    wait_for(&cloud, ResourceKind::Volume, &id, |r| detach.is_done(r)).await;

    cloud.client.delete_resource(ResourceKind::Volume, &id, OperationId::new()).await.expect("delete");
    assert!(is_gone(cloud.client.get_resource(ResourceKind::Volume, &id).await));
    let again = cloud.client.delete_resource(ResourceKind::Volume, &id, OperationId::new()).await;
    assert!(matches!(again, Err(ProviderError::NotFound { .. })), "a second delete is a 404: {again:?}");
}

#[tokio::test]
async fn snapshots_of_a_volume_and_of_a_droplet_are_listed_outlive_their_source_and_are_deleted() {
    let cloud = spawn(20).await;
    let droplet = droplet_in(&cloud, "nyc1").await;
    let vol = create(&cloud, &volume_request("data-2", 50)).await;
    let of_volume = create(
        &cloud,
        &CreateResource::Snapshot {
            operation_id: OperationId::new(),
            name: name("data-2-snap"),
            source_kind: SnapshotSourceKind::Volume,
            source_id: vol.id().0.clone(),
            tags: vec!["keep".into()],
        },
    )
    .await;
    let of_droplet = create(
        &cloud,
        &CreateResource::Snapshot {
            operation_id: OperationId::new(),
            name: name("web-snap"),
            source_kind: SnapshotSourceKind::Instance,
            source_id: droplet.id.0.clone(),
            tags: vec![],
        },
    )
    .await;
    let (Resource::Snapshot(a), Resource::Snapshot(b)) = (&of_volume, &of_droplet) else {
        panic!("snapshots")
    };
    assert_eq!((a.source_kind, a.source_id.as_str()), (SnapshotSourceKind::Volume, vol.id().0.as_str()));
    assert_eq!(a.size_gib, Decimal::from(50));
    assert_eq!((b.source_kind, b.source_id.as_str()), (SnapshotSourceKind::Instance, droplet.id.0.as_str()));

    // The volume goes; its snapshot stays (and keeps costing).
    cloud
        .client
        .delete_resource(ResourceKind::Volume, vol.id(), OperationId::new())
        .await
        .expect("delete volume");
    let listed = cloud.client.list_resources(ResourceKind::Snapshot).await.expect("list");
    for made in [&of_volume, &of_droplet] {
        let found = listed.iter().find(|s| s.id() == made.id()).expect("listed");
        assert_eq!(found.name(), made.name());
    }
    for made in [&of_volume, &of_droplet] {
        let got = cloud.client.get_resource(ResourceKind::Snapshot, made.id()).await.expect("get");
        assert_eq!(got.name(), made.name());
        cloud
            .client
            .delete_resource(ResourceKind::Snapshot, made.id(), OperationId::new())
            .await
            .expect("delete");
        assert!(is_gone(cloud.client.get_resource(ResourceKind::Snapshot, made.id()).await));
    }
}

#[tokio::test]
async fn an_ssh_key_is_imported_listed_and_deleted_and_importing_it_again_adopts_it() {
    let cloud = spawn(0).await;
    let import = |op| CreateResource::SshKey {
        operation_id: op,
        name: "laptop".into(),
        public_key: PUBLIC_KEY.into(),
    };
    let made = create(&cloud, &import(OperationId::new())).await;
    let Resource::SshKey(key) = &made else { panic!("{made:?}") };
    assert!(!key.fingerprint.is_empty());
    assert_eq!(key.public_key.as_deref(), Some(PUBLIC_KEY));

    // A second import of the same key (another operation) is the same key, not a refusal.
    let again = create(&cloud, &import(OperationId::new())).await;
    assert_eq!(again.id(), made.id());
    let listed = cloud.client.list_resources(ResourceKind::SshKey).await.expect("list");
    assert_eq!(listed.len(), 1);

    cloud.client.delete_resource(ResourceKind::SshKey, made.id(), OperationId::new()).await.expect("delete");
    assert!(is_gone(cloud.client.get_resource(ResourceKind::SshKey, made.id()).await));
}

#[tokio::test]
async fn a_firewall_gets_its_rules_set_as_a_difference_and_its_droplets_and_tags_changed() {
    let cloud = spawn(20).await;
    let droplet = droplet_in(&cloud, "nyc1").await;
    let made = create(&cloud, &firewall_request("web-fw")).await;
    let id = made.id().clone();

    let set = ResourceAction::SetFirewallRules {
        firewall_id: id.clone(),
        inbound: vec![
            rule(Protocol::Tcp, Ports::Range { from: 22, to: 22 }, "10.0.0.0/8"),
            rule(Protocol::Tcp, Ports::Range { from: 443, to: 443 }, "0.0.0.0/0"),
            rule(Protocol::Icmp, Ports::All, "0.0.0.0/0"),
        ],
        // The outbound rule stays as it was: nothing is sent for it.
        outbound: vec![rule(Protocol::Tcp, Ports::All, "0.0.0.0/0")],
    };
    let before = requests(&cloud, "firewalls_add_rules") + requests(&cloud, "firewalls_delete_rules");
    act(&cloud, set.clone()).await;
    let after = requests(&cloud, "firewalls_add_rules") + requests(&cloud, "firewalls_delete_rules");
    assert_eq!(after - before, 2, "one removal and one addition");
    let now = cloud.client.get_resource(ResourceKind::Firewall, &id).await.expect("get");
    assert!(set.is_done(&now), "{now:?}");

    for action in [
        ResourceAction::AddFirewallInstances {
            firewall_id: id.clone(),
            instance_ids: vec![droplet.id.clone()],
        },
        ResourceAction::AddFirewallTags { firewall_id: id.clone(), tags: vec!["dosim".into()] },
        ResourceAction::RemoveFirewallInstances {
            firewall_id: id.clone(),
            instance_ids: vec![droplet.id.clone()],
        },
        ResourceAction::RemoveFirewallTags { firewall_id: id.clone(), tags: vec!["dosim".into()] },
    ] {
        act(&cloud, action.clone()).await;
        let now = cloud.client.get_resource(ResourceKind::Firewall, &id).await.expect("get");
        assert!(action.is_done(&now), "{}: {now:?}", action.name());
    }
    let listed = cloud.client.list_resources(ResourceKind::Firewall).await.expect("list");
    assert!(listed.iter().any(|f| f.id() == &id));
    cloud.client.delete_resource(ResourceKind::Firewall, &id, OperationId::new()).await.expect("delete");
    assert!(is_gone(cloud.client.get_resource(ResourceKind::Firewall, &id).await));
}

#[tokio::test]
async fn a_reserved_ip_is_reserved_assigned_unassigned_and_released() {
    let cloud = spawn(20).await;
    let droplet = droplet_in(&cloud, "nyc1").await;
    let made = create(
        &cloud,
        &CreateResource::ReservedIp {
            operation_id: OperationId::new(),
            region: "nyc1".into(),
            instance_id: None,
        },
    )
    .await;
    let id = made.id().clone();
    let Resource::ReservedIp(ip) = &made else { panic!("{made:?}") };
    assert_eq!(
        (ip.region.as_str(), ip.assigned_to.as_ref(), ip.id.0.clone()),
        ("nyc1", None, ip.address.to_string())
    );

    let assign = ResourceAction::AssignReservedIp { ip_id: id.clone(), instance_id: droplet.id.clone() };
    act(&cloud, assign.clone()).await;
    wait_for(&cloud, ResourceKind::ReservedIp, &id, |r| {
        assign.is_done(r) && !matches!(r, Resource::ReservedIp(i) if i.locked)
    })
    .await;
    let unassign = ResourceAction::UnassignReservedIp { ip_id: id.clone() };
    act(&cloud, unassign.clone()).await;
    wait_for(&cloud, ResourceKind::ReservedIp, &id, |r| unassign.is_done(r)).await;

    let listed = cloud.client.list_resources(ResourceKind::ReservedIp).await.expect("list");
    assert!(listed.iter().any(|r| r.id() == &id));
    wait_for(&cloud, ResourceKind::ReservedIp, &id, |r| !matches!(r, Resource::ReservedIp(i) if i.locked))
        .await;
    cloud.client.delete_resource(ResourceKind::ReservedIp, &id, OperationId::new()).await.expect("release");
    assert!(is_gone(cloud.client.get_resource(ResourceKind::ReservedIp, &id).await));
}

#[tokio::test]
async fn a_vpc_is_created_shows_its_members_and_is_deleted() {
    let cloud = spawn(0).await;
    let made = create(
        &cloud,
        &CreateResource::Vpc {
            operation_id: OperationId::new(),
            name: name("private-net"),
            region: "nyc1".into(),
            ip_range: Some("10.10.10.0/24".into()),
            description: Some("test network".into()),
        },
    )
    .await;
    let Resource::Vpc(vpc) = &made else { panic!("{made:?}") };
    assert_eq!((vpc.ip_range.as_str(), vpc.region.as_str()), ("10.10.10.0/24", "nyc1"));

    let mut request = crate::helpers::create_request(&["in-vpc"]);
    request.vpc_uuid = Some(vpc.id.0.clone());
    let droplet = cloud.client.create_instances(&request).await.expect("droplet").remove(0);
    let members = cloud.client.vpc_members(&vpc.id).await.expect("members");
    assert!(
        members.iter().any(|m| m.kind == "instance" && m.id == droplet.id.0 && m.name == "in-vpc"),
        "{members:?}"
    );
    let listed = cloud.client.list_resources(ResourceKind::Vpc).await.expect("list");
    assert!(listed.iter().any(|v| v.id() == &vpc.id));

    cloud.client.delete_instance(&droplet.id, OperationId::new()).await.expect("droplet gone");
    cloud.client.delete_resource(ResourceKind::Vpc, &vpc.id, OperationId::new()).await.expect("delete");
    assert!(is_gone(cloud.client.get_resource(ResourceKind::Vpc, &vpc.id).await));
}

#[tokio::test]
async fn deleting_a_droplet_with_chosen_resources_takes_them_and_leaves_the_rest() {
    let cloud = spawn(0).await;
    let droplet = cloud
        .client
        .create_instances(&crate::helpers::create_request(&["doomed"]))
        .await
        .expect("create")
        .remove(0);
    wait_until_running(&cloud, &droplet.id).await;
    let taken = create(&cloud, &volume_request("taken", 10)).await;
    let kept = create(&cloud, &volume_request("kept", 10)).await;
    for v in [&taken, &kept] {
        act(
            &cloud,
            ResourceAction::AttachVolume { volume_id: v.id().clone(), instance_id: droplet.id.clone() },
        )
        .await;
    }
    let ip = create(
        &cloud,
        &CreateResource::ReservedIp {
            operation_id: OperationId::new(),
            region: "nyc1".into(),
            instance_id: Some(droplet.id.clone()),
        },
    )
    .await;
    let snapshot = create(
        &cloud,
        &CreateResource::Snapshot {
            operation_id: OperationId::new(),
            name: name("doomed-snap"),
            source_kind: SnapshotSourceKind::Volume,
            source_id: taken.id().0.clone(),
            tags: vec![],
        },
    )
    .await;

    // Something the droplet does not hold is refused before the droplet is touched.
    let stranger =
        AssociatedResources { volumes: vec![ResourceId("no-such-volume".into())], ..Default::default() };
    let refused = cloud.client.delete_instance_with(&droplet.id, &stranger, OperationId::new()).await;
    assert!(
        matches!(&refused, Err(ProviderError::InvalidInput { field: Some(f), .. }) if f == "volumes"),
        "{refused:?}"
    );
    cloud.client.get_instance(&droplet.id).await.expect("still there");

    let chosen = AssociatedResources {
        volumes: vec![taken.id().clone()],
        snapshots: vec![snapshot.id().clone()],
        reserved_ips: vec![ip.id().clone()],
    };
    cloud.client.delete_instance_with(&droplet.id, &chosen, OperationId::new()).await.expect("destroy");
    assert!(matches!(cloud.client.get_instance(&droplet.id).await, Err(ProviderError::NotFound { .. })));
    for (kind, gone) in
        [(ResourceKind::Volume, &taken), (ResourceKind::Snapshot, &snapshot), (ResourceKind::ReservedIp, &ip)]
    {
        assert!(
            is_gone(cloud.client.get_resource(kind, gone.id()).await),
            "{kind} {} should be gone",
            gone.id()
        );
    }
    let left =
        cloud.client.get_resource(ResourceKind::Volume, kept.id()).await.expect("the unchosen volume stays");
    assert!(volume(&left).attached_to.is_empty(), "and is detached: {left:?}");

    // Asked again (an answer lost, a crash): the destroy is found done, not asked for again.
    let before = requests(&cloud, "droplets_destroy_withAssociatedResourcesSelective");
    cloud.client.delete_instance_with(&droplet.id, &chosen, OperationId::new()).await.expect("done already");
    assert_eq!(requests(&cloud, "droplets_destroy_withAssociatedResourcesSelective"), before);
}

async fn wait_until_running(cloud: &TestCloud, id: &InstanceId) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while cloud.client.get_instance(id).await.expect("get").status != nephele_core::InstanceStatus::Running {
        assert!(std::time::Instant::now() < deadline, "{id} never ran");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_price_table_gives_every_figure_a_source_a_date_and_a_grade() {
    let cloud = spawn(0).await;
    let prices = cloud.client.resource_prices().await.expect("prices");
    let of = |kind| prices.iter().find(|p| p.kind == kind).expect("priced");
    let expect = [
        (ResourceKind::Volume, PriceUnit::GibMonth, "0.10", Billable::Always, Grade::Secondary),
        (ResourceKind::Snapshot, PriceUnit::GibMonth, "0.06", Billable::Always, Grade::Primary),
        (ResourceKind::ReservedIp, PriceUnit::Month, "5.00", Billable::Unassigned, Grade::Secondary),
        (ResourceKind::Firewall, PriceUnit::Month, "0", Billable::Always, Grade::Primary),
        (ResourceKind::Vpc, PriceUnit::Month, "0", Billable::Always, Grade::Assumed),
    ];
    for (kind, unit, amount, billable, grade) in expect {
        let price = of(kind);
        assert_eq!(
            (price.unit, price.amount, price.billable, price.grade, price.currency.as_str()),
            (unit, amount.parse::<Decimal>().expect("decimal"), billable, grade, "USD"),
            "{kind}"
        );
        assert!(!price.source.is_empty() && price.as_of == "2026-12-02", "{kind}: {price:?}");
    }
    // 100 GiB for a month of 730 hours is $10.00.
    let made = create(&cloud, &volume_request("priced", 100)).await;
    let (hourly, _) = hourly_price(&made, &prices).expect("computable").expect("a price");
    assert_eq!((hourly * HOURS_PER_MONTH).round_dp(2), Decimal::from(10));
}

#[tokio::test]
async fn info_declares_every_resource_kind_as_a_capability() {
    let cloud = spawn(0).await;
    let info = cloud.client.info();
    for kind in ResourceKind::ALL {
        assert!(info.capabilities.iter().any(|c| c == kind.capability()), "{kind}: {:?}", info.capabilities);
    }
    assert!(info.capabilities.iter().any(|c| c == "delete_with_associated_resources"));
}
