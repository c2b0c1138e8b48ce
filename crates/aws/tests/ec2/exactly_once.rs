//! Exactly once: a create retried with its operation id makes one resource of every kind; a
//! create whose answer is lost (moto acts, the proxy drops the answer) adopts what it made
//! instead of making another; a delete of what is gone is `NotFound`, which the engine reads
//! as an earlier attempt done.

use nephele_core::{
    CreateResource, FirewallRule, OperationId, Ports, Protocol, Provider, ProviderError, Resource,
    ResourceKind, ResourceName, RuleTargets, SnapshotSourceKind,
};

use crate::support::{Cloud, EAST, PUBLIC_KEY};

fn name(text: &str) -> ResourceName {
    ResourceName::parse(text).expect("name")
}

/// One create of each kind, with the action that makes it and how many of those one create
/// sends (a key pair goes into each of the two regions).
async fn one_of_each(cloud: &Cloud, tag: &str) -> Vec<(CreateResource, &'static str, usize)> {
    let volume = CreateResource::Volume {
        operation_id: OperationId::new(),
        name: name(&format!("{tag}-source")),
        region: EAST.into(),
        size_gib: 10,
        snapshot_id: None,
        volume_type: None,
        description: None,
        tags: vec![],
    };
    let source = cloud.create(&volume).await.id().0.clone();
    vec![
        (
            CreateResource::Volume {
                operation_id: OperationId::new(),
                name: name(&format!("{tag}-data")),
                region: "us-east-1b".into(),
                size_gib: 50,
                snapshot_id: None,
                volume_type: Some("gp2".into()),
                description: None,
                tags: vec![],
            },
            "CreateVolume",
            1,
        ),
        (
            CreateResource::Snapshot {
                operation_id: OperationId::new(),
                name: name(&format!("{tag}-snap")),
                source_kind: SnapshotSourceKind::Volume,
                source_id: source,
                tags: vec![],
            },
            "CreateSnapshot",
            1,
        ),
        (
            CreateResource::SshKey {
                operation_id: OperationId::new(),
                name: format!("{tag}-key"),
                public_key: PUBLIC_KEY.into(),
            },
            "ImportKeyPair",
            2,
        ),
        (
            CreateResource::Firewall {
                operation_id: OperationId::new(),
                name: name(&format!("{tag}-fw")),
                description: None,
                inbound: vec![FirewallRule {
                    protocol: Protocol::Tcp,
                    ports: Ports::Range { from: 22, to: 22 },
                    targets: RuleTargets { addresses: vec!["0.0.0.0/0".into()], ..Default::default() },
                }],
                outbound: vec![],
                instance_ids: vec![],
                tags: vec![],
                vpc_id: None,
            },
            "CreateSecurityGroup",
            1,
        ),
        (
            CreateResource::ReservedIp {
                operation_id: OperationId::new(),
                region: EAST.into(),
                instance_id: None,
            },
            "AllocateAddress",
            1,
        ),
        (
            CreateResource::Vpc {
                operation_id: OperationId::new(),
                name: name(&format!("{tag}-net")),
                region: EAST.into(),
                ip_range: None,
                description: None,
            },
            "CreateVpc",
            1,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_retried_with_its_operation_id_makes_one_resource_of_every_kind() {
    let cloud = Cloud::start().await;
    for (request, action, sends) in one_of_each(&cloud, "retried").await {
        let kind = request.kind();
        let before = (cloud.proxy.count(action), cloud.list(kind).await.len());
        let first = cloud.create(&request).await;
        let second = cloud.create(&request).await;
        assert_eq!(first.id(), second.id(), "{kind}");
        assert_eq!(cloud.proxy.count(action) - before.0, sends, "{kind}: {action} sent once");
        assert_eq!(cloud.list(kind).await.len(), before.1 + 1, "{kind}: one more");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_answer_is_lost_adopts_what_it_made_instead_of_making_another() {
    let cloud = Cloud::start().await;
    for (request, action, sends) in one_of_each(&cloud, "lost").await {
        let kind = request.kind();
        let before = (cloud.proxy.count(action), cloud.list(kind).await.len());
        cloud.proxy.lose_next(action);
        let made = cloud.aws.create_resource(&request).await.unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(cloud.proxy.count(action) - before.0, sends, "{kind}: {action} not sent again");
        let listed = cloud.list(kind).await;
        assert_eq!(listed.len(), before.1 + 1, "{kind}: one more");
        assert!(listed.iter().any(|r| r.id() == made.id()), "{kind}: what was adopted is what was made");
        // And the engine's retry of the whole create finds it too.
        assert_eq!(cloud.create(&request).await.id(), made.id(), "{kind}");
        assert_eq!(cloud.proxy.count(action) - before.0, sends, "{kind}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_of_what_is_gone_is_not_found() {
    let cloud = Cloud::start().await;
    for (request, _, _) in one_of_each(&cloud, "deleted").await {
        let kind = request.kind();
        let made = cloud.create(&request).await;
        cloud
            .aws
            .delete_resource(kind, made.id(), OperationId::new())
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let again = cloud.aws.delete_resource(kind, made.id(), OperationId::new()).await;
        assert!(matches!(again, Err(ProviderError::NotFound { .. })), "{kind}: {again:?}");
        let read = cloud.aws.get_resource(kind, made.id()).await;
        assert!(matches!(read, Err(ProviderError::NotFound { .. })), "{kind}: {read:?}");
        assert!(!cloud.list(kind).await.iter().any(|r: &Resource| r.id() == made.id()), "{kind}");
    }
    // An id of the wrong shape names nothing, and costs no call.
    let calls = cloud.proxy.total();
    for (kind, id) in
        [(ResourceKind::Volume, "snap-0123456789abcdef0"), (ResourceKind::ReservedIp, "198.51.100.7")]
    {
        let read = cloud.aws.get_resource(kind, &nephele_core::ResourceId(id.into())).await;
        assert!(matches!(read, Err(ProviderError::NotFound { .. })), "{kind}: {read:?}");
    }
    assert_eq!(cloud.proxy.total(), calls);
}
