//! Key pairs: imported into every region under one name, used by name or by fingerprint in an
//! instance create, held unique by name, deleted everywhere.
//!
//! moto does not check `KeyName` in `RunInstances` (any name launches), so a create's success
//! proves nothing there: the instance's `keyName`, read from moto directly, is what is checked.

use nephele_core::{CreateResource, OperationId, Provider, ProviderError, Resource, ResourceKind};

use crate::support::{Cloud, EAST, PUBLIC_KEY, WEST, ec2, elements};

async fn key_name_of(cloud: &Cloud, region: &str, instance: &str) -> Vec<String> {
    let answer = ec2(&cloud.moto.url, region, "DescribeInstances", &[("InstanceId.1", instance)]).await;
    elements(&answer, "keyName")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_key_is_in_every_region_and_launches_instances_by_name_or_fingerprint() {
    let cloud = Cloud::start().await;
    let operation_id = OperationId::new();
    let import =
        CreateResource::SshKey { operation_id, name: "deploy".into(), public_key: PUBLIC_KEY.into() };
    let Resource::SshKey(key) = cloud.create(&import).await else { panic!("a key") };
    assert_eq!((key.id.0.as_str(), key.name.as_str()), ("deploy", "deploy"), "the name is the id");
    assert!(!key.fingerprint.is_empty());
    assert_eq!(key.public_key.as_deref(), Some(PUBLIC_KEY));
    for region in [EAST, WEST] {
        let answer = ec2(&cloud.moto.url, region, "DescribeKeyPairs", &[]).await;
        assert_eq!(elements(&answer, "keyName"), ["deploy"], "{region}");
    }
    assert_eq!(
        cloud.list(ResourceKind::SshKey).await,
        [Resource::SshKey(nephele_core::SshKey { public_key: None, ..key.clone() })]
    );

    let by_name = cloud.instance("keyed-1", WEST, &["deploy"], None).await;
    assert_eq!(key_name_of(&cloud, WEST, &by_name.0).await, ["deploy"]);
    let by_fingerprint = cloud.instance("keyed-2", EAST, &[&key.fingerprint], None).await;
    assert_eq!(
        key_name_of(&cloud, EAST, &by_fingerprint.0).await,
        ["deploy"],
        "the fingerprint became the name"
    );

    // The same operation again adopts the pairs; another operation with the name is refused.
    let imports = cloud.proxy.count("ImportKeyPair");
    assert_eq!(imports, 2, "one per region");
    let Resource::SshKey(again) = cloud.create(&import).await else { panic!("a key") };
    assert_eq!((again.id, cloud.proxy.count("ImportKeyPair")), (key.id.clone(), imports));
    let other = CreateResource::SshKey {
        operation_id: OperationId::new(),
        name: "deploy".into(),
        public_key: PUBLIC_KEY.into(),
    };
    let refused = cloud.aws.create_resource(&other).await.expect_err("the name is taken");
    assert!(matches!(refused, ProviderError::Conflict { .. }), "{refused}");
    assert_eq!(cloud.proxy.count("ImportKeyPair"), imports, "refused before anything was sent");

    cloud.aws.delete_resource(ResourceKind::SshKey, &key.id, OperationId::new()).await.expect("deleted");
    for region in [EAST, WEST] {
        let answer = ec2(&cloud.moto.url, region, "DescribeKeyPairs", &[]).await;
        assert!(elements(&answer, "keyName").is_empty(), "{region}: {answer}");
    }
    let gone = cloud.aws.delete_resource(ResourceKind::SshKey, &key.id, OperationId::new()).await;
    assert!(matches!(gone, Err(ProviderError::NotFound { .. })), "{gone:?}");
    let unknown = nephele_core::CreateInstances {
        operation_id: OperationId::new(),
        names: vec![nephele_core::InstanceName::parse("keyed-3").expect("name")],
        instance_type: "t3.micro".into(),
        region: EAST.into(),
        image: crate::support::image(&cloud.moto.url, EAST).await,
        ssh_keys: vec![key.fingerprint.clone()],
        tags: vec![],
        user_data: None,
        backups: false,
        ipv6: false,
        monitoring: false,
        vpc_uuid: None,
    };
    let refused =
        cloud.aws.create_instances(&unknown).await.expect_err("no pair has that fingerprint any more");
    assert!(
        matches!(&refused, ProviderError::InvalidInput { field: Some(f), .. } if f == "ssh_keys[0]"),
        "{refused}"
    );
}
