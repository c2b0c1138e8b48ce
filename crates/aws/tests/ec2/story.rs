//! Issue 21's story on EC2: a 100 GiB volume attached to an instance, snapshotted, detached,
//! grown to 200; the instance deleted; the volume, the snapshot and an Elastic IP still there,
//! each with its price. And a snapshot of an instance, which outlives it.

use nephele_core::pricing::hourly_price;
use nephele_core::{
    CreateResource, OperationId, Provider, ProviderError, Resource, ResourceAction, ResourceKind,
    ResourceName, SnapshotSourceKind, VolumeStatus,
};
use rust_decimal::Decimal;

use crate::support::{Cloud, EAST, WEST};

fn name(text: &str) -> ResourceName {
    ResourceName::parse(text).expect("name")
}

fn decimal(text: &str) -> Decimal {
    text.parse().expect("decimal")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volume_its_snapshot_and_an_elastic_ip_outlive_their_instance_and_are_priced() {
    let cloud = Cloud::start().await;
    let instance = cloud.instance("story-1", EAST, &[], None).await;

    let made = cloud
        .create(&CreateResource::Volume {
            operation_id: OperationId::new(),
            name: name("data"),
            region: EAST.into(),
            size_gib: 100,
            snapshot_id: None,
            volume_type: None,
            description: Some("the story's volume".into()),
            tags: vec!["env:test".into()],
        })
        .await;
    let Resource::Volume(volume) = made else { panic!("{made:?}") };
    assert_eq!(
        (volume.size_gib, volume.volume_type.as_deref()),
        (100, Some("gp3")),
        "gp3 by default: {volume:?}"
    );
    assert_eq!((volume.name.as_str(), volume.status), ("data", VolumeStatus::Available));
    assert_eq!(volume.description.as_deref(), Some("the story's volume"));
    assert!(volume.tags.contains(&"env:test".to_owned()), "{:?}", volume.tags);

    let made = cloud
        .create(&CreateResource::ReservedIp {
            operation_id: OperationId::new(),
            region: EAST.into(),
            instance_id: Some(instance.clone()),
        })
        .await;
    let Resource::ReservedIp(ip) = made else { panic!("{made:?}") };
    assert_eq!(ip.assigned_to.as_ref(), Some(&instance));
    let age = time::OffsetDateTime::now_utc() - ip.created_at.expect("Nephele keeps the allocation time");
    assert!(age < time::Duration::minutes(5), "{age}");

    let attach = ResourceAction::AttachVolume { volume_id: volume.id.clone(), instance_id: instance.clone() };
    let started = cloud.aws.resource_action(&attach, OperationId::new()).await.expect("attached");
    let Some(Resource::Volume(attached)) = started.resource else { panic!("{started:?}") };
    assert_eq!(attached.attached_to, std::slice::from_ref(&instance));
    assert!(attach.is_done(&cloud.get(ResourceKind::Volume, &volume.id).await));

    let made = cloud
        .create(&CreateResource::Snapshot {
            operation_id: OperationId::new(),
            name: name("data-before-resize"),
            source_kind: SnapshotSourceKind::Volume,
            source_id: volume.id.0.clone(),
            tags: vec![],
        })
        .await;
    let Resource::Snapshot(snapshot) = made else { panic!("{made:?}") };
    assert_eq!(
        (snapshot.source_kind, snapshot.source_id.as_str()),
        (SnapshotSourceKind::Volume, volume.id.0.as_str())
    );
    assert_eq!(
        (snapshot.size_gib, snapshot.regions.as_slice()),
        (Decimal::from(100), &[EAST.to_owned()][..])
    );

    let detach = ResourceAction::DetachVolume { volume_id: volume.id.clone(), instance_id: instance.clone() };
    cloud.aws.resource_action(&detach, OperationId::new()).await.expect("detached");
    assert!(detach.is_done(&cloud.get(ResourceKind::Volume, &volume.id).await));

    let grow = ResourceAction::ResizeVolume { volume_id: volume.id.clone(), size_gib: 200 };
    cloud.aws.resource_action(&grow, OperationId::new()).await.expect("grown");
    let Resource::Volume(grown) = cloud.get(ResourceKind::Volume, &volume.id).await else { panic!() };
    assert_eq!(grown.size_gib, 200);
    // moto would shrink it; EBS volumes only grow, and Nephele refuses before asking.
    let shrink = ResourceAction::ResizeVolume { volume_id: volume.id.clone(), size_gib: 150 };
    let refused =
        cloud.aws.resource_action(&shrink, OperationId::new()).await.expect_err("volumes only grow");
    assert!(
        matches!(&refused, ProviderError::InvalidInput { field: Some(f), .. } if f == "size_gib"),
        "{refused}"
    );

    cloud.aws.delete_instance(&instance, OperationId::new()).await.expect("instance deleted");

    let volumes = cloud.list(ResourceKind::Volume).await;
    let Some(Resource::Volume(left)) = volumes.iter().find(|v| v.id() == &volume.id) else {
        panic!("{volumes:?}")
    };
    assert_eq!((left.size_gib, left.attached_to.len(), left.status), (200, 0, VolumeStatus::Available));
    let snapshots = cloud.list(ResourceKind::Snapshot).await;
    assert!(snapshots.iter().any(|s| s.id() == &snapshot.id), "{snapshots:?}");
    // moto answers Owner=self with ~1,300 public snapshots; the account's own are only ours.
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    let ips = cloud.list(ResourceKind::ReservedIp).await;
    let Some(Resource::ReservedIp(left_ip)) = ips.iter().find(|i| i.id() == &ip.id) else {
        panic!("{ips:?}")
    };
    // moto keeps the association to the terminated instance (EC2 drops it): either way the
    // address serves nothing now.
    assert_eq!(left_ip.assigned_to, None, "{left_ip:?}");

    let prices = cloud.aws.resource_prices().await.expect("prices");
    let monthly = |resource: &Resource| {
        let (hourly, price) = hourly_price(resource, &prices).expect("computable").expect("priced");
        assert!(!price.source.is_empty() && price.as_of == "2026-12-02", "{price:?}");
        (hourly * Decimal::from(730)).round_dp(2)
    };
    let left_volume = volumes.iter().find(|v| v.id() == &volume.id).expect("volume");
    let left_snapshot = snapshots.iter().find(|s| s.id() == &snapshot.id).expect("snapshot");
    let left_address = ips.iter().find(|i| i.id() == &ip.id).expect("ip");
    assert_eq!(monthly(left_volume), decimal("16.00"), "200 GB of gp3 at $0.08");
    // $0.05 per GB-month of the snapshot's size: 100 GB on EC2, which keeps the size at the
    // time of the snapshot; moto shows the volume's size now (200), so the size is read back.
    let Resource::Snapshot(read) = left_snapshot else { panic!() };
    assert!(read.size_gib == Decimal::from(100) || read.size_gib == Decimal::from(200), "{read:?}");
    assert_eq!(monthly(left_snapshot), (read.size_gib * decimal("0.05")).round_dp(2));
    assert_eq!(monthly(left_address), decimal("3.65"), "730 hours of public IPv4 at $0.005");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_of_an_instance_is_of_its_root_volume_and_still_says_so_when_the_instance_is_gone() {
    let cloud = Cloud::start().await;
    // In the second region: the instance is found wherever it is.
    let instance = cloud.instance("snapped-1", WEST, &[], None).await;
    let made = cloud
        .create(&CreateResource::Snapshot {
            operation_id: OperationId::new(),
            name: name("before-upgrade"),
            source_kind: SnapshotSourceKind::Instance,
            source_id: instance.0.clone(),
            tags: vec!["why:upgrade".into()],
        })
        .await;
    let Resource::Snapshot(snapshot) = made else { panic!("{made:?}") };
    assert_eq!(
        (snapshot.source_kind, snapshot.source_id.as_str()),
        (SnapshotSourceKind::Instance, instance.0.as_str())
    );
    assert_eq!(
        (snapshot.name.as_str(), snapshot.regions.as_slice()),
        ("before-upgrade", &[WEST.to_owned()][..])
    );
    assert!(snapshot.tags.contains(&"why:upgrade".to_owned()), "{:?}", snapshot.tags);
    assert!(
        !snapshot.tags.iter().any(|t| t.starts_with("nephele-source")),
        "the source is a field, not a tag"
    );
    assert!(snapshot.size_gib > Decimal::ZERO);

    cloud.aws.delete_instance(&instance, OperationId::new()).await.expect("deleted");
    let Resource::Snapshot(after) = cloud.get(ResourceKind::Snapshot, &snapshot.id).await else { panic!() };
    assert_eq!((after.source_kind, after.source_id), (SnapshotSourceKind::Instance, instance.0.clone()));

    let of_gone = cloud
        .aws
        .create_resource(&CreateResource::Snapshot {
            operation_id: OperationId::new(),
            name: name("too-late"),
            source_kind: SnapshotSourceKind::Instance,
            source_id: instance.0.clone(),
            tags: vec![],
        })
        .await
        .expect_err("a terminated instance has no disk to snapshot");
    assert!(matches!(of_gone, ProviderError::Conflict { .. }), "{of_gone}");

    cloud
        .aws
        .delete_resource(ResourceKind::Snapshot, &snapshot.id, OperationId::new())
        .await
        .expect("deleted");
    let again = cloud.aws.delete_resource(ResourceKind::Snapshot, &snapshot.id, OperationId::new()).await;
    assert!(matches!(again, Err(ProviderError::NotFound { .. })), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_declares_every_kind_and_prices_them_with_their_sources() {
    let cloud = Cloud::start().await;
    let capabilities = cloud.aws.info().capabilities;
    for kind in ResourceKind::ALL {
        assert!(capabilities.contains(&kind.capability().to_owned()), "{kind}: {capabilities:?}");
    }
    let prices = cloud.aws.resource_prices().await.expect("prices");
    for kind in ResourceKind::ALL {
        assert!(prices.iter().any(|p| p.kind == kind), "{kind} has a figure, even if it is zero");
    }
    assert_eq!(cloud.proxy.total(), 0, "capabilities and prices cost no call");
}
