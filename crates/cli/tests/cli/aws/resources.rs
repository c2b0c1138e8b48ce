//! Issue 21's story on EC2 through a real `nephele serve` with the AWS plugin over moto: an EBS
//! volume attached, snapshotted, detached and grown, an Elastic IP, the instance deleted; the
//! waste report then shows the volume, the snapshot and the address with their monthly cost.

use std::time::Duration;

use serde_json::{Value, json};

use super::{AWS, aws_section, config, get, post, settle};
use crate::aws::moto::Moto;
use crate::support::{Server, simulator};

/// Sends a change through the API and waits for its operation to succeed.
async fn change(http: &reqwest::Client, base: &str, sent: (u16, Value)) -> Value {
    let (status, body) = sent;
    assert!(status == 202 || status == 204, "{status}: {body}");
    if !body["operation_id"].is_null() {
        let done = settle(http, base, &body["operation_id"]).await;
        assert_eq!(done["state"], "succeeded", "{done}");
    }
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ebs_volume_its_snapshot_and_an_elastic_ip_are_waste_once_their_instance_is_gone() {
    let moto = Moto::start();
    let image = moto.ask("ami", "us-east-1", &[]);
    let image = image.as_str().expect("ami").to_owned();
    let sim = simulator(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path(), &aws_section(&moto.url, &["us-east-1"]), &sim.base_url());
    let server = Server::start(&config, &dir.path().join("server.log"));
    let http = reqwest::Client::new();
    let base = server.url.clone();
    let url = |path: &str| format!("{base}{AWS}{path}");

    let made = post(
        &http,
        &url("/instances"),
        json!({"name": "story", "type": "t3.micro", "region": "us-east-1", "image_id": image}),
        None,
    )
    .await;
    let instance = change(&http, &base, made).await["id"].as_str().expect("id").to_owned();

    let made =
        post(&http, &url("/volumes"), json!({"name": "data", "size_gib": 100, "region": "us-east-1"}), None)
            .await;
    let volume = change(&http, &base, made).await["resource"].clone();
    let volume_id = volume["id"].as_str().expect("volume id").to_owned();
    assert_eq!(volume["volume_type"], "gp3", "{volume}");
    let actions = format!("{base}{AWS}/volumes/{volume_id}/actions");
    let act = |body: Value| post(&http, &actions, body, None);
    change(&http, &base, act(json!({"type": "attach", "instance_id": instance})).await).await;
    let made = post(
        &http,
        &url("/snapshots"),
        json!({"name": "data-snap", "source_kind": "volume", "source_id": volume_id}),
        None,
    )
    .await;
    let snapshot_id =
        change(&http, &base, made).await["resource"]["id"].as_str().expect("snapshot").to_owned();
    change(&http, &base, act(json!({"type": "detach", "instance_id": instance})).await).await;
    change(&http, &base, act(json!({"type": "resize", "size_gib": 200})).await).await;
    let made =
        post(&http, &url("/reserved-ips"), json!({"region": "us-east-1", "instance_id": instance}), None)
            .await;
    let ip_id = change(&http, &base, made).await["resource"]["id"].as_str().expect("ip").to_owned();

    let deleted = http.delete(url(&format!("/instances/{instance}"))).send().await.expect("delete");
    let status = deleted.status().as_u16();
    let body: Value = deleted.json().await.unwrap_or(Value::Null);
    change(&http, &base, (status, body)).await;

    let (status, report) = get(&http, &format!("{base}/api/v1/costs/waste?account=aws")).await;
    assert_eq!(status, 200, "{report}");
    let find = |kind: &str, id: &str| {
        report["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|i| i["kind"] == kind && i["id"] == id)
            .cloned()
    };
    // gp3 in us-east-1: 200 GB x $0.08 = $16.00; the Elastic IP $0.005 an hour x 730 = $3.65;
    // the snapshot 100 GB x $0.05 = $5.00 (EC2 bills the data it holds; moto reports the size).
    let volume_item = find("volume", &volume_id).expect("the volume is waste");
    assert_eq!(volume_item["monthly_cost"], "16.00", "{report}");
    let ip_item = find("reserved_ip", &ip_id).expect("the Elastic IP is waste");
    assert_eq!(ip_item["monthly_cost"], "3.65", "{report}");
    let snapshot_item = find("snapshot", &snapshot_id).expect("the snapshot is waste");
    assert_eq!(snapshot_item["monthly_cost"], "5.00", "{report}");
    assert_eq!(report["totals"][0]["monthly_cost"], "24.65", "{report}");

    // The Python example and plugins without resources: a kind the provider lacks is 404.
    let (status, refused) = get(&http, &format!("{base}/api/v1/providers/digitalocean/volumes")).await;
    assert_eq!(status, 200, "dosim has volumes: {refused}");
    server.stop();
}

/// Issue 21's "firewall rules and membership, SSH key import and use in a create, VPC create and
/// membership" on EC2 (moto), through the API: a key pair imported and named in an instance
/// create; a security group with its rules set and that instance added and removed; a VPC made,
/// whose members are what runs in it. Nephele makes no subnets and its instance create takes no
/// VPC, so the VPC's subnet and the instance in it are made in moto directly (boto3). What moto
/// holds is checked with boto3, not only what the API says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firewall_rules_and_members_an_imported_key_in_a_create_and_a_vpc_with_its_members() {
    let moto = Moto::start();
    let image = moto.ask("ami", "us-east-1", &[]);
    let image = image.as_str().expect("ami").to_owned();
    let sim = simulator(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path(), &aws_section(&moto.url, &["us-east-1"]), &sim.base_url());
    let server = Server::start(&config, &dir.path().join("server.log"));
    let http = reqwest::Client::new();
    let base = server.url.clone();
    let url = |path: &str| format!("{base}{AWS}{path}");

    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG5lcGhlbGUtdGVzdC1rZXktZm9yLWlzc3VlLTIxLW9r ops@example";
    let made = post(&http, &url("/ssh-keys"), json!({"name": "ops", "public_key": key}), None).await;
    let key = change(&http, &base, made).await["resource"].clone();
    assert_eq!(key["name"], "ops", "{key}");
    let key_id = key["id"].as_str().expect("key id").to_owned();

    let made = post(
        &http,
        &url("/vpcs"),
        json!({"name": "private", "region": "us-east-1", "ip_range": "10.20.0.0/16"}),
        None,
    )
    .await;
    let vpc = change(&http, &base, made).await["resource"].clone();
    let vpc_id = vpc["id"].as_str().expect("vpc id").to_owned();
    let (status, members) = get(&http, &url(&format!("/vpcs/{vpc_id}/members"))).await;
    assert_eq!(status, 200, "{members}");
    assert_eq!(members["members"].as_array().map(Vec::len), Some(0), "a new VPC is empty: {members}");
    let subnet = moto.ask("subnet", "us-east-1", &[&vpc_id, "10.20.1.0/24"]);
    let subnet = subnet.as_str().expect("subnet id").to_owned();
    let inside = moto.ask("run_in", "us-east-1", &[&subnet]);
    let inside = inside.as_str().expect("instance id").to_owned();

    let (status, members) = get(&http, &url(&format!("/vpcs/{vpc_id}/members"))).await;
    assert_eq!(status, 200, "{members}");
    let listed: Vec<(String, String)> = members["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            (
                m["kind"].as_str().unwrap_or_default().to_owned(),
                m["id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(listed.contains(&("instance".to_owned(), inside.clone())), "{members}");
    assert!(listed.contains(&("subnet".to_owned(), subnet.clone())), "{members}");

    // The imported key by name in an instance create.
    let made = post(
        &http,
        &url("/instances"),
        json!({"name": "keyed", "type": "t3.micro", "region": "us-east-1", "image_id": image, "ssh_keys": ["ops"]}),
        None,
    )
    .await;
    let instance = change(&http, &base, made).await["id"].as_str().expect("id").to_owned();
    let truth = moto.ask("describe", "us-east-1", &[&instance]);
    assert_eq!(truth["key_name"], "ops", "moto holds the key on the instance: {truth}");

    // A security group (in the default VPC, the instance's): rules set, the instance added, then
    // removed.
    let out = json!({"protocol": "tcp", "ports": {"kind": "all"}, "targets": {"addresses": ["0.0.0.0/0"]}});
    let made = post(&http, &url("/firewalls"), json!({"name": "web", "outbound": [out]}), None).await;
    let firewall = change(&http, &base, made).await["resource"].clone();
    let firewall_id = firewall["id"].as_str().expect("firewall id").to_owned();
    let actions = url(&format!("/firewalls/{firewall_id}/actions"));
    let ssh = json!({"protocol": "tcp", "ports": {"kind": "range", "from": 22, "to": 22}, "targets": {"addresses": ["10.0.0.0/8"]}});
    let rules = json!({"type": "set_rules", "inbound": [ssh], "outbound": [out]});
    change(&http, &base, post(&http, &actions, rules, None).await).await;
    let add = json!({"type": "add_instances", "instance_ids": [instance]});
    change(&http, &base, post(&http, &actions, add, None).await).await;
    let (status, read) = get(&http, &url(&format!("/firewalls/{firewall_id}"))).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["inbound"].as_array().map(Vec::len), Some(1), "{read}");
    assert_eq!(read["inbound"][0]["ports"]["from"], 22, "{read}");
    assert_eq!(read["instance_ids"], json!([instance]), "{read}");
    let truth = moto.ask("describe", "us-east-1", &[&instance]);
    assert!(truth["groups"].as_array().expect("groups").iter().any(|g| g == firewall_id.as_str()), "{truth}");
    let remove = json!({"type": "remove_instances", "instance_ids": [instance]});
    change(&http, &base, post(&http, &actions, remove, None).await).await;
    let (_, read) = get(&http, &url(&format!("/firewalls/{firewall_id}"))).await;
    assert_eq!(read["instance_ids"], json!([]), "{read}");
    let truth = moto.ask("describe", "us-east-1", &[&instance]);
    assert!(
        !truth["groups"].as_array().expect("groups").iter().any(|g| g == firewall_id.as_str()),
        "{truth}"
    );

    // The firewall and the key are deleted as operations, and gone from the lists.
    for (kind, id) in [("firewalls", &firewall_id), ("ssh-keys", &key_id)] {
        let deleted = http.delete(url(&format!("/{kind}/{id}"))).send().await.expect("delete");
        let status = deleted.status().as_u16();
        let body: Value = deleted.json().await.unwrap_or(Value::Null);
        change(&http, &base, (status, body)).await;
        let (_, listed) = get(&http, &url(&format!("/{kind}"))).await;
        assert!(
            !listed["resources"].as_array().expect("list").iter().any(|r| r["id"] == id.as_str()),
            "{listed}"
        );
    }
    server.stop();
}
