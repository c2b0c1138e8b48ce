//! Kill -9 in the middle of 100 creates, restart, and account for every droplet.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::support::{
    Server, all_droplets, make_key, operation_of, operations, simulator, wait_until_settled, write_config,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_create_accepted_before_a_kill_ends_as_exactly_one_droplet() {
    let sim = simulator(Duration::from_millis(300)).await;
    // DigitalOcean is slow today: every answer takes 150 ms.
    sim.set_faults(dosim::Faults { latency_ms: 150, ..Default::default() });
    let dir = tempfile::tempdir().expect("temp dir");
    let database = format!("sqlite://{}/nephele.db", dir.path().display());
    // The default lease: what a crashed server leaves is resumed once its leases run out.
    let config = write_config(dir.path(), &sim, &database, 10);
    let key = make_key(&config, "operator");
    let server = Server::start(&config, &dir.path().join("first.log"));
    let url = server.url.clone();
    let http = reqwest::Client::new();

    // 100 creates with distinct keys, 8 at a time; the server is killed part way through.
    let accepted: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let create = |http: reqwest::Client, url: String, key: String, i: usize| async move {
        let response = http
            .post(format!("{url}/api/v1/providers/digitalocean/instances"))
            .bearer_auth(&key)
            .header("Idempotency-Key", format!("crash-{i}"))
            .json(&json!({"name": format!("crash-{i}"), "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64"}))
            .send()
            .await
            .ok()?;
        if response.status() != 202 {
            return None;
        }
        let body = response.json::<Value>().await.ok()?;
        Some(body["operation_id"].as_str().expect("operation id").to_owned())
    };
    let sender = {
        let (http, url, key, accepted) = (http.clone(), url.clone(), key.clone(), accepted.clone());
        tokio::spawn(async move {
            futures_util::stream::iter(0..100usize)
                .map(|i| {
                    let (http, url, key, accepted) =
                        (http.clone(), url.clone(), key.clone(), accepted.clone());
                    async move {
                        if let Some(op) = create(http, url, key, i).await {
                            accepted.lock().expect("lock").push((i, op));
                        }
                    }
                })
                .buffer_unordered(8)
                .collect::<Vec<_>>()
                .await;
        })
    };
    while accepted.lock().expect("lock").len() < 25 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill_hard();
    sender.await.expect("sender");
    let accepted = accepted.lock().expect("lock").clone();
    let made_before_restart = all_droplets(&http, &sim).await.len();

    // Back up, and DigitalOcean is fast again.
    sim.set_faults(dosim::Faults::default());
    let server = Server::start(&config, &dir.path().join("second.log"));
    let restarted = std::time::Instant::now();
    let at_restart = operations(&http, &server.url, &key, "limit=5000").await;
    let recorded_at_kill = at_restart.len();
    let left_behind: HashSet<String> = at_restart
        .iter()
        .filter(|o| o["state"] == "pending" || o["state"] == "running")
        .filter_map(|o| o["id"].as_str().map(str::to_owned))
        .collect();
    // Every operation the dead server held is resumed (and, DigitalOcean being fast again,
    // finished) within 15 s of the restart.
    let resumed = {
        let (http, url, key, left_behind) =
            (http.clone(), server.url.clone(), key.clone(), left_behind.clone());
        tokio::spawn(async move {
            loop {
                let unfinished = operations(&http, &url, &key, "limit=5000")
                    .await
                    .iter()
                    .filter(|o| o["state"] == "pending" || o["state"] == "running")
                    .filter(|o| o["id"].as_str().is_some_and(|id| left_behind.contains(id)))
                    .count();
                if unfinished == 0 {
                    return restarted.elapsed();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    // Every client that got no answer retries with its key: a request the server had recorded
    // answers with its operation, one it never saw is made now. Nothing is made twice.
    let answered: HashSet<usize> = accepted.iter().map(|(i, _)| *i).collect();
    let retried: Vec<(usize, Option<String>)> =
        futures_util::stream::iter((0..100).filter(|i| !answered.contains(i)))
            .map(|i| {
                let (http, url, key) = (http.clone(), server.url.clone(), key.clone());
                async move { (i, create(http, url, key, i).await) }
            })
            .buffer_unordered(16)
            .collect()
            .await;
    for (i, op) in &retried {
        assert!(op.is_some(), "the retry of create {i} was accepted");
    }
    let everything: Vec<(usize, String)> = accepted
        .iter()
        .cloned()
        .chain(retried.into_iter().map(|(i, op)| (i, op.unwrap_or_default())))
        .collect();
    wait_until_settled(&http, &server.url, &key, Duration::from_secs(60)).await;
    let resumed_within = resumed.await.expect("watcher");

    let operations = operations(&http, &server.url, &key, "limit=5000").await;
    let states: HashMap<String, String> = operations
        .iter()
        .map(|o| {
            (
                o["id"].as_str().unwrap_or_default().to_owned(),
                o["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let droplets = all_droplets(&http, &sim).await;
    let mut droplets_per_operation: HashMap<String, usize> = HashMap::new();
    for droplet in &droplets {
        let op = operation_of(droplet).expect("every droplet carries its operation's tag");
        *droplets_per_operation.entry(op).or_default() += 1;
    }
    eprintln!(
        "crash test: {} creates answered 202 before the kill, {} recorded by then, {} droplets existed at the kill; \
         after restart and retries: {} operations, {} droplets; the {} left behind finished {:?} after the restart",
        accepted.len(),
        recorded_at_kill,
        made_before_restart,
        operations.len(),
        droplets.len(),
        left_behind.len(),
        resumed_within,
    );
    assert!(resumed_within < Duration::from_secs(15), "left-behind operations took {resumed_within:?}");

    assert!(accepted.len() < 100, "the kill came mid-stream");
    for (i, op) in &everything {
        assert_eq!(states.get(op).map(String::as_str), Some("succeeded"), "create {i} (operation {op})");
        assert_eq!(droplets_per_operation.get(op), Some(&1), "create {i} made exactly one droplet");
    }
    let names: HashSet<&str> = droplets.iter().filter_map(|d| d["name"].as_str()).collect();
    assert_eq!(names.len(), 100, "all 100 creates, each once");
    assert_eq!(droplets.len(), 100);
    assert!(
        states.values().all(|s| s == "succeeded" || s == "failed"),
        "no operation left pending or running: {states:?}"
    );
    let known: HashSet<&String> = states.keys().collect();
    for op in droplets_per_operation.keys() {
        assert!(known.contains(op), "droplet of unknown operation {op}: every droplet is accounted for");
    }
    assert!(droplets_per_operation.values().all(|n| *n == 1), "no operation made two droplets");
    assert_eq!(
        droplets.len(),
        states.values().filter(|s| *s == "succeeded").count(),
        "one droplet per succeeded create"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_that_stops_cleanly_hands_its_operations_back_at_once() {
    let sim = simulator(Duration::from_secs(2)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let database = format!("sqlite://{}/nephele.db", dir.path().display());
    // A long lease: were the leases not handed back, the restarted server would wait 60 s.
    let config = write_config(dir.path(), &sim, &database, 60);
    let key = make_key(&config, "operator");
    let server = Server::start(&config, &dir.path().join("first.log"));
    let http = reqwest::Client::new();
    let mut made = Vec::new();
    for i in 0..6 {
        let response = http
            .post(format!("{}/api/v1/providers/digitalocean/instances", server.url))
            .bearer_auth(&key)
            .json(&json!({"name": format!("calm-{i}"), "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64"}))
            .send()
            .await
            .expect("create");
        assert_eq!(response.status(), 202);
        made.push(
            response.json::<Value>().await.expect("json")["operation_id"].as_str().expect("id").to_owned(),
        );
    }
    // Droplets take 2 s to boot: the worker is following every create when the server stops.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(server.stop().success(), "a clean stop exits 0");

    let server = Server::start(&config, &dir.path().join("second.log"));
    let restarted = std::time::Instant::now();
    wait_until_settled(&http, &server.url, &key, Duration::from_secs(30)).await;
    let took = restarted.elapsed();
    eprintln!("clean stop: 6 creates finished {took:?} after the restart (lease 60 s)");
    assert!(took < Duration::from_secs(10), "resumed only after {took:?}: the leases were not handed back");
    let states = operations(&http, &server.url, &key, "limit=100").await;
    for id in &made {
        let op = states.iter().find(|o| o["id"] == id.as_str()).expect("recorded");
        assert_eq!(op["state"], "succeeded", "{op}");
    }
}

/// Volumes made through the API, the server killed with -9 part way, restarted, every client
/// retrying with its Idempotency-Key: each volume exists once at DigitalOcean (a volume is found
/// again by its name and its operation's tag).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_volume_create_retried_across_a_kill_ends_as_exactly_one_volume() {
    let sim = simulator(Duration::from_millis(100)).await;
    sim.set_faults(dosim::Faults { latency_ms: 150, ..Default::default() });
    let dir = tempfile::tempdir().expect("temp dir");
    let database = format!("sqlite://{}/nephele.db", dir.path().display());
    let config = write_config(dir.path(), &sim, &database, 3);
    let key = make_key(&config, "operator");
    let server = Server::start(&config, &dir.path().join("first.log"));
    let http = reqwest::Client::new();
    const COUNT: usize = 20;
    let create = |http: reqwest::Client, url: String, key: String, i: usize| async move {
        let response = http
            .post(format!("{url}/api/v1/providers/digitalocean/volumes"))
            .bearer_auth(&key)
            .header("Idempotency-Key", format!("vol-crash-{i}"))
            .json(&json!({"name": format!("crash-{i}"), "size_gib": 10}))
            .send()
            .await
            .ok()?;
        (response.status() == 202).then_some(())
    };
    let accepted = Arc::new(Mutex::new(0usize));
    let sender = {
        let (http, url, key, accepted) = (http.clone(), server.url.clone(), key.clone(), accepted.clone());
        tokio::spawn(async move {
            futures_util::stream::iter(0..COUNT)
                .map(|i| {
                    let (http, url, key, accepted) =
                        (http.clone(), url.clone(), key.clone(), accepted.clone());
                    async move {
                        if create(http, url, key, i).await.is_some() {
                            *accepted.lock().expect("lock") += 1;
                        }
                    }
                })
                .buffer_unordered(4)
                .collect::<Vec<_>>()
                .await;
        })
    };
    while *accepted.lock().expect("lock") < 5 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill_hard();
    sender.await.expect("sender");
    let before_kill = *accepted.lock().expect("lock");
    assert!(before_kill < COUNT, "the kill came part way: {before_kill} of {COUNT} were answered");

    sim.set_faults(dosim::Faults::default());
    let server = Server::start(&config, &dir.path().join("second.log"));
    // Every client retries with its key, whatever it heard.
    for i in 0..COUNT {
        assert!(create(http.clone(), server.url.clone(), key.clone(), i).await.is_some(), "retry {i}");
    }
    wait_until_settled(&http, &server.url, &key, Duration::from_secs(60)).await;
    let body: Value = http
        .get(format!("{}/v2/volumes?per_page=200", sim.base_url()))
        .bearer_auth(crate::support::DO_TOKEN)
        .send()
        .await
        .expect("list volumes")
        .json()
        .await
        .expect("json");
    let mut names: HashMap<String, usize> = HashMap::new();
    for volume in body["volumes"].as_array().expect("volumes") {
        *names.entry(volume["name"].as_str().expect("name").to_owned()).or_default() += 1;
    }
    for i in 0..COUNT {
        assert_eq!(names.get(&format!("crash-{i}")), Some(&1), "volume crash-{i}: {names:?}");
    }
    assert_eq!(names.len(), COUNT, "{names:?}");
    server.stop();
}

/// What the table-driven resource test carries from step to step.
struct Crashes {
    sim: dosim::RunningSim,
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
    key: String,
    http: reqwest::Client,
    server: Option<Server>,
    steps: usize,
}

/// Sends one change with its Idempotency-Key; answers the status and body.
async fn send_change(
    c: &Crashes,
    url: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
    idempotency_key: &str,
) -> (u16, Value) {
    let mut request = c
        .http
        .request(method, format!("{url}/api/v1/providers/digitalocean{path}"))
        .bearer_auth(&c.key)
        .header("Idempotency-Key", idempotency_key);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("send the change");
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

impl Crashes {
    fn requests(&self, operation: &str) -> u64 {
        self.sim.stats().requests.get(operation).copied().unwrap_or(0)
    }

    /// Sends a change, kills the server -9 soon after it was accepted (at a point that moves
    /// from step to step: before, while or after DigitalOcean acts), starts it again, sends the
    /// change again with the same key, and waits for its operation: it must succeed, with
    /// DigitalOcean's mutating calls `effects` made exactly as often as given (once: one effect).
    async fn across_a_kill(
        &mut self,
        label: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        effects: &[(&str, u64)],
    ) -> Value {
        let before: Vec<u64> = effects.iter().map(|(op, _)| self.requests(op)).collect();
        let idempotency_key = format!("crash-{label}");
        let server = self.server.take().expect("a running server");
        // DigitalOcean is slow: the operation is still under way when the kill comes.
        self.sim.set_faults(dosim::Faults { latency_ms: 150, ..Default::default() });
        let (status, first) =
            send_change(self, &server.url, method.clone(), path, body.as_ref(), &idempotency_key).await;
        // A change DigitalOcean makes at once (a snapshot's delete) is answered 204, no operation.
        assert!(status == 202 || status == 204, "{label}: {status} {first}");
        // Where the kill lands: at once, during the first upstream call, or after it.
        let kill_after = [0, 120, 400][self.steps % 3];
        self.steps += 1;
        tokio::time::sleep(Duration::from_millis(kill_after)).await;
        server.kill_hard();
        self.sim.set_faults(dosim::Faults::default());
        let server = Server::start(&self.config, &self.dir.path().join(format!("{label}.log")));
        let (status, again) =
            send_change(self, &server.url, method, path, body.as_ref(), &idempotency_key).await;
        assert!(status == 202 || status == 204, "{label} again: {status} {again}");
        assert_eq!(again["operation_id"], first["operation_id"], "{label}: the same operation");
        let Some(id) = first["operation_id"].as_str() else {
            self.check_effects(label, kill_after, effects, &before);
            self.server = Some(server);
            return Value::Null;
        };
        let started = std::time::Instant::now();
        let op = loop {
            let op: Value = self
                .http
                .get(format!("{}/api/v1/operations/{id}", server.url))
                .bearer_auth(&self.key)
                .send()
                .await
                .expect("operation")
                .json()
                .await
                .expect("json");
            if op["state"] == "succeeded" || op["state"] == "failed" {
                break op;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "{label}: never settled: {op}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(op["state"], "succeeded", "{label} (killed after {kill_after} ms): {op}");
        self.check_effects(label, kill_after, effects, &before);
        self.server = Some(server);
        op
    }

    fn check_effects(&self, label: &str, kill_after: u64, effects: &[(&str, u64)], before: &[u64]) {
        for ((operation, wanted), before) in effects.iter().zip(before) {
            assert_eq!(
                self.requests(operation) - before,
                *wanted,
                "{label} (killed after {kill_after} ms): {operation} calls at DigitalOcean"
            );
        }
    }

    /// The ids (as text) of the account's resources of `kind` that `keep` keeps, read fresh.
    async fn ids(&self, kind: &str, keep: impl Fn(&Value) -> bool) -> Vec<String> {
        let url = &self.server.as_ref().expect("server").url;
        let listed: Value = self
            .http
            .get(format!("{url}/api/v1/providers/digitalocean/{kind}?fresh=true"))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        listed["resources"]
            .as_array()
            .unwrap_or_else(|| panic!("{kind}: {listed}"))
            .iter()
            .filter(|r| keep(r))
            .map(|r| r["id"].as_str().map_or_else(|| r["id"].to_string(), str::to_owned))
            .collect()
    }

    async fn one(&self, kind: &str, name: &str) -> String {
        let ids = self.ids(kind, |r| r["name"] == name).await;
        assert_eq!(ids.len(), 1, "exactly one {kind} named {name}: {ids:?}");
        ids[0].clone()
    }
}

/// Every resource change of issue 21 on DigitalOcean, each sent with its Idempotency-Key, the
/// server killed -9 while it runs, and sent again after the restart: one resource, one effect.
/// (Reserved IPs are made *for a droplet* here: DigitalOcean keeps no record tying an IP
/// reserved to a region to the request that made it; see `crates/digitalocean/src/resources`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_resource_change_across_a_kill_is_made_once() {
    use reqwest::Method;
    let sim = simulator(Duration::from_millis(100)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let database = format!("sqlite://{}/nephele.db", dir.path().display());
    // A short lease: what a killed server held is taken up again soon after the restart.
    let config = write_config(dir.path(), &sim, &database, 3);
    let key = make_key(&config, "operator");
    let server = Server::start(&config, &dir.path().join("first.log"));
    let http = reqwest::Client::new();
    let mut c = Crashes { sim, dir, config, key, http, server: Some(server), steps: 0 };

    let droplet = json!({"name": "crash-host", "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64"});
    c.across_a_kill("droplet", Method::POST, "/instances", Some(droplet), &[("droplets_create", 1)]).await;
    let host = all_droplets(&c.http, &c.sim).await[0]["id"].as_u64().expect("droplet id");

    let volume = json!({"name": "crash-vol", "size_gib": 10, "region": "nyc1"});
    c.across_a_kill("volume-create", Method::POST, "/volumes", Some(volume), &[("volumes_create", 1)]).await;
    let vol = c.one("volumes", "crash-vol").await;
    let on_volume = format!("/volumes/{vol}/actions");
    let attach = json!({"type": "attach", "instance_id": host.to_string()});
    c.across_a_kill(
        "volume-attach",
        Method::POST,
        &on_volume,
        Some(attach),
        &[("volumeActions_post_byId", 1)],
    )
    .await;
    let resize = json!({"type": "resize", "size_gib": 20});
    c.across_a_kill(
        "volume-resize",
        Method::POST,
        &on_volume,
        Some(resize),
        &[("volumeActions_post_byId", 1)],
    )
    .await;
    let snap = json!({"name": "crash-snap", "source_kind": "volume", "source_id": vol});
    c.across_a_kill(
        "snapshot-create",
        Method::POST,
        "/snapshots",
        Some(snap),
        &[("volumeSnapshots_create", 1)],
    )
    .await;
    let snapshot = c.one("snapshots", "crash-snap").await;
    let detach = json!({"type": "detach", "instance_id": host.to_string()});
    c.across_a_kill(
        "volume-detach",
        Method::POST,
        &on_volume,
        Some(detach),
        &[("volumeActions_post_byId", 1)],
    )
    .await;
    c.across_a_kill(
        "snapshot-delete",
        Method::DELETE,
        &format!("/snapshots/{snapshot}"),
        None,
        &[("snapshots_delete", 1)],
    )
    .await;
    c.across_a_kill(
        "volume-delete",
        Method::DELETE,
        &format!("/volumes/{vol}"),
        None,
        &[("volumes_delete", 1)],
    )
    .await;
    assert!(c.ids("volumes", |r| r["name"] == "crash-vol").await.is_empty());

    let public_key =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ0aG9uZXN0bHkgYSB0ZXN0IGtleSBmb3IgbmVwaGVsZQ crash@example";
    let import = json!({"name": "crash-key", "public_key": public_key});
    // One key: one create at DigitalOcean (its list is not read here: every restart's first
    // refresh spends one of the 10 SSH-key lists a minute DigitalOcean allows).
    let op = c
        .across_a_kill("key-import", Method::POST, "/ssh-keys", Some(import), &[("sshKeys_create", 1)])
        .await;
    let ssh_key = op["result"]["resource_id"].as_str().unwrap_or_else(|| panic!("{op}")).to_owned();
    c.across_a_kill(
        "key-delete",
        Method::DELETE,
        &format!("/ssh-keys/{ssh_key}"),
        None,
        &[("sshKeys_delete", 1)],
    )
    .await;

    let out = json!({"protocol": "tcp", "ports": {"kind": "all"}, "targets": {"addresses": ["0.0.0.0/0"]}});
    let firewall = json!({"name": "crash-fw", "outbound": [out]});
    c.across_a_kill(
        "firewall-create",
        Method::POST,
        "/firewalls",
        Some(firewall),
        &[("firewalls_create", 1)],
    )
    .await;
    let fw = c.one("firewalls", "crash-fw").await;
    let on_firewall = format!("/firewalls/{fw}/actions");
    let ssh = json!({"protocol": "tcp", "ports": {"kind": "range", "from": 22, "to": 22}, "targets": {"addresses": ["0.0.0.0/0"]}});
    let rules = json!({"type": "set_rules", "inbound": [ssh], "outbound": [out]});
    c.across_a_kill(
        "firewall-rules",
        Method::POST,
        &on_firewall,
        Some(rules),
        &[("firewalls_add_rules", 1), ("firewalls_delete_rules", 0)],
    )
    .await;
    let add = json!({"type": "add_instances", "instance_ids": [host.to_string()]});
    c.across_a_kill(
        "firewall-add",
        Method::POST,
        &on_firewall,
        Some(add),
        &[("firewalls_assign_droplets", 1)],
    )
    .await;
    let remove = json!({"type": "remove_instances", "instance_ids": [host.to_string()]});
    c.across_a_kill(
        "firewall-remove",
        Method::POST,
        &on_firewall,
        Some(remove),
        &[("firewalls_delete_droplets", 1)],
    )
    .await;
    c.across_a_kill(
        "firewall-delete",
        Method::DELETE,
        &format!("/firewalls/{fw}"),
        None,
        &[("firewalls_delete", 1)],
    )
    .await;

    let allocate = json!({"region": "nyc1", "instance_id": host.to_string()});
    c.across_a_kill(
        "ip-allocate",
        Method::POST,
        "/reserved-ips",
        Some(allocate),
        &[("reservedIPs_create", 1)],
    )
    .await;
    let ips = c.ids("reserved-ips", |_| true).await;
    assert_eq!(ips.len(), 1, "one reserved IP: {ips:?}");
    let on_ip = format!("/reserved-ips/{}/actions", ips[0]);
    let unassign = json!({"type": "unassign"});
    c.across_a_kill("ip-unassign", Method::POST, &on_ip, Some(unassign), &[("reservedIPsActions_post", 1)])
        .await;
    let assign = json!({"type": "assign", "instance_id": host.to_string()});
    c.across_a_kill("ip-assign", Method::POST, &on_ip, Some(assign), &[("reservedIPsActions_post", 1)]).await;
    c.across_a_kill(
        "ip-release",
        Method::DELETE,
        &format!("/reserved-ips/{}", ips[0]),
        None,
        &[("reservedIPs_delete", 1)],
    )
    .await;
    assert!(c.ids("reserved-ips", |_| true).await.is_empty());

    let vpc = json!({"name": "crash-vpc", "region": "nyc1", "ip_range": "10.30.0.0/24"});
    c.across_a_kill("vpc-create", Method::POST, "/vpcs", Some(vpc), &[("vpcs_create", 1)]).await;
    let vpc = c.one("vpcs", "crash-vpc").await;
    c.across_a_kill("vpc-delete", Method::DELETE, &format!("/vpcs/{vpc}"), None, &[("vpcs_delete", 1)]).await;
    assert!(c.ids("vpcs", |r| r["name"] == "crash-vpc").await.is_empty());
}
