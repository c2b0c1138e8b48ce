//! Security groups as firewalls: made with exactly the rules asked for, rules set as a
//! difference (nothing sent when nothing differs), instances added and removed, tag targets
//! refused, deletes.
//!
//! moto gives an instance launched without groups an empty instance-level group list (EC2
//! lists the VPC's default group); Nephele reads the primary interface's groups then, so the
//! default group stays with the instance when this one is removed.

use nephele_core::{
    CreateResource, FirewallRule, OperationId, Ports, Protocol, Provider, ProviderError, Resource,
    ResourceAction, ResourceKind, ResourceName, RuleTargets,
};

use crate::support::{Cloud, EAST};

fn rule(protocol: Protocol, ports: Ports, addresses: &[&str]) -> FirewallRule {
    FirewallRule {
        protocol,
        ports,
        targets: RuleTargets {
            addresses: addresses.iter().map(|a| (*a).to_owned()).collect(),
            ..Default::default()
        },
    }
}

fn port(number: u16) -> Ports {
    Ports::Range { from: number, to: number }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firewall_holds_exactly_its_rules_and_members_and_changes_only_what_differs() {
    let cloud = Cloud::start().await;
    let web = cloud.instance("fw-web-1", EAST, &[], None).await;
    let inbound = vec![
        rule(Protocol::Tcp, port(22), &["203.0.113.0/24"]),
        rule(Protocol::Icmp, Ports::All, &["0.0.0.0/0"]),
        rule(Protocol::Tcp, Ports::Range { from: 8000, to: 8080 }, &["10.0.0.0/8", "2001:db8::/32"]),
    ];
    let outbound = vec![rule(Protocol::Tcp, port(443), &["0.0.0.0/0"])];
    let made = cloud
        .create(&CreateResource::Firewall {
            operation_id: OperationId::new(),
            name: ResourceName::parse("web").expect("name"),
            description: Some("web servers".into()),
            inbound: inbound.clone(),
            outbound: outbound.clone(),
            instance_ids: vec![web.clone()],
            tags: vec![],
            vpc_id: None,
        })
        .await;
    let Resource::Firewall(firewall) = made else { panic!("{made:?}") };
    assert_eq!(firewall.name, "web");
    assert!(firewall.vpc_id.is_some(), "made in the default VPC: {firewall:?}");
    assert_eq!(firewall.instance_ids, std::slice::from_ref(&web));
    // Exactly the rules asked for: EC2's allow-all outbound rule is gone.
    let same = ResourceAction::SetFirewallRules {
        firewall_id: firewall.id.clone(),
        inbound: inbound.clone(),
        outbound: outbound.clone(),
    };
    let read = cloud.get(ResourceKind::Firewall, &firewall.id).await;
    assert!(same.is_done(&read), "{read:?}");

    // Setting the same rules again changes nothing and sends nothing that changes.
    let before = cloud.proxy.changes().len();
    cloud.aws.resource_action(&same, OperationId::new()).await.expect("set");
    assert_eq!(cloud.proxy.changes().len(), before, "{:?}", cloud.proxy.changes());

    // New rules: one authorization and one revocation for each direction that differs.
    let everything_out = vec![
        rule(Protocol::Tcp, Ports::All, &["0.0.0.0/0"]),
        rule(Protocol::Udp, Ports::All, &["0.0.0.0/0"]),
        rule(Protocol::Icmp, Ports::All, &["0.0.0.0/0"]),
    ];
    let change = ResourceAction::SetFirewallRules {
        firewall_id: firewall.id.clone(),
        inbound: vec![
            rule(Protocol::Tcp, port(22), &["203.0.113.0/24"]),
            rule(Protocol::Tcp, port(80), &["0.0.0.0/0"]),
        ],
        outbound: everything_out,
    };
    let started = cloud.aws.resource_action(&change, OperationId::new()).await.expect("set");
    let Some(resource) = started.resource else { panic!("the firewall as it stands") };
    assert!(change.is_done(&resource), "{resource:?}");
    assert!(change.is_done(&cloud.get(ResourceKind::Firewall, &firewall.id).await));
    // At create: inbound authorized, outbound 443 authorized and EC2's allow-all revoked. Now:
    // port 80 in, ICMP and 8000-8080 out of inbound; all traffic (one `-1`) in, 443 out of
    // outbound.
    let calls = |action: &str| cloud.proxy.count(action);
    assert_eq!(
        [calls("AuthorizeSecurityGroupIngress"), calls("RevokeSecurityGroupIngress")],
        [2, 1],
        "one call per direction and verb that differs"
    );
    assert_eq!([calls("AuthorizeSecurityGroupEgress"), calls("RevokeSecurityGroupEgress")], [2, 2]);

    // Membership: another instance in, the first out (its default group stays with it).
    let api = cloud.instance("fw-api-1", EAST, &[], None).await;
    let add = ResourceAction::AddFirewallInstances {
        firewall_id: firewall.id.clone(),
        instance_ids: vec![api.clone()],
    };
    cloud.aws.resource_action(&add, OperationId::new()).await.expect("added");
    let remove = ResourceAction::RemoveFirewallInstances {
        firewall_id: firewall.id.clone(),
        instance_ids: vec![web.clone()],
    };
    cloud.aws.resource_action(&remove, OperationId::new()).await.expect("removed");
    let Resource::Firewall(now) = cloud.get(ResourceKind::Firewall, &firewall.id).await else { panic!() };
    assert_eq!(now.instance_ids, std::slice::from_ref(&api));
    assert!(add.is_done(&Resource::Firewall(now.clone())) && remove.is_done(&Resource::Firewall(now)));
    let listed = cloud.list(ResourceKind::Firewall).await;
    assert!(listed.iter().any(|f| f.id() == &firewall.id && f.name() == "web"), "{listed:?}");
    assert!(listed.iter().any(|f| f.name() == "default"), "each VPC's default group is listed too");

    // Instance tags are no EC2 target.
    let by_tag =
        ResourceAction::AddFirewallTags { firewall_id: firewall.id.clone(), tags: vec!["web".into()] };
    let refused = cloud.aws.resource_action(&by_tag, OperationId::new()).await.expect_err("no tag targets");
    assert!(
        matches!(&refused, ProviderError::InvalidInput { field: Some(f), .. } if f == "tags"),
        "{refused}"
    );

    // A group in use is not deleted (EC2 answers DependencyViolation; moto would delete it, so
    // Nephele looks first); out of use, it goes, and then it is not found.
    let in_use = cloud.aws.delete_resource(ResourceKind::Firewall, &firewall.id, OperationId::new()).await;
    assert!(
        matches!(&in_use, Err(ProviderError::Conflict { message, .. }) if message.contains(&api.0)),
        "{in_use:?}"
    );
    let remove_api = ResourceAction::RemoveFirewallInstances {
        firewall_id: firewall.id.clone(),
        instance_ids: vec![api.clone()],
    };
    cloud.aws.resource_action(&remove_api, OperationId::new()).await.expect("removed");
    cloud
        .aws
        .delete_resource(ResourceKind::Firewall, &firewall.id, OperationId::new())
        .await
        .expect("deleted");
    let gone = cloud.aws.delete_resource(ResourceKind::Firewall, &firewall.id, OperationId::new()).await;
    assert!(matches!(gone, Err(ProviderError::NotFound { .. })), "{gone:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_group_is_kept_and_an_instance_keeps_one_group() {
    let cloud = Cloud::start().await;
    let instance = cloud.instance("only-1", EAST, &[], None).await;
    let vpcs = cloud.list(ResourceKind::Vpc).await;
    let Some(Resource::Vpc(east)) =
        vpcs.iter().find(|v| matches!(v, Resource::Vpc(v) if v.default && v.region == EAST))
    else {
        panic!("{vpcs:?}")
    };
    let listed = cloud.list(ResourceKind::Firewall).await;
    let default = listed
        .iter()
        .find(|f| matches!(f, Resource::Firewall(f) if f.name == "default" && f.vpc_id.as_ref() == Some(&east.id.0)))
        .expect("the default VPC's group")
        .id()
        .clone();
    let refused = cloud.aws.delete_resource(ResourceKind::Firewall, &default, OperationId::new()).await;
    assert!(matches!(refused, Err(ProviderError::Conflict { .. })), "{refused:?}");
    let remove =
        ResourceAction::RemoveFirewallInstances { firewall_id: default, instance_ids: vec![instance] };
    let refused = cloud.aws.resource_action(&remove, OperationId::new()).await.expect_err("its only group");
    assert!(matches!(refused, ProviderError::Conflict { .. }), "{refused}");
    assert!(cloud.proxy.changes().iter().all(|a| a == "RunInstances"), "{:?}", cloud.proxy.changes());
}
