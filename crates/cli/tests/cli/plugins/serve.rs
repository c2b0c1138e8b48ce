//! `nephele serve` with providers run as plugins: the same answers as in process, a plugin killed
//! under load, plugins that cannot start, `initialize`, and a clean shutdown.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::support::{
    DO_TOKEN, Server, all_droplets, children_named, digitalocean_plugin, make_key, operation_of,
    python_plugin, simulator, wait_until_settled,
};

/// The Rust plugin's process name (cut to 15 characters by Linux).
const PLUGIN_PROCESS: &str = "nephele-provide";
/// The Python plugin runs as the interpreter.
const PYTHON_PLUGIN_PROCESS: &str = "python";

/// A config.yaml in `dir` (as `file`) with these `providers:` lines, on its own database.
fn write(dir: &Path, file: &str, providers: &str, auth: bool) -> PathBuf {
    let path = dir.join(file);
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:0\n  readiness_interval_secs: 1\nproviders:\n{providers}database:\n  url: sqlite://{}/{file}.db\nauth:\n  required: {auth}\noperations:\n  poll_interval_ms: 50\n",
        dir.display()
    );
    std::fs::write(&path, yaml).expect("write config");
    path
}

fn digitalocean(sim: &dosim::RunningSim, plugin: bool) -> String {
    format!(
        "  digitalocean:\n{}    api_token: {DO_TOKEN}\n    region: nyc1\n    base_url: {}\n    rate_limit_per_minute: 100000\n    rate_limit_per_hour: 1000000\n    call_deadline_secs: 5\n",
        if plugin { format!("    plugin: {}\n", digitalocean_plugin().display()) } else { String::new() },
        sim.base_url()
    )
}

async fn get(http: &reqwest::Client, url: &str) -> (u16, String) {
    let response = http.get(url).send().await.expect("request");
    (response.status().as_u16(), response.text().await.expect("body"))
}

async fn post(http: &reqwest::Client, url: &str, body: Value) -> (u16, Value) {
    let response = http.post(url).json(&body).send().await.expect("request");
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn wait_for_operation(http: &reqwest::Client, base: &str, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let (_, body) = get(http, &format!("{base}/api/v1/operations/{id}")).await;
        let body: Value = serde_json::from_str(&body).expect("json");
        if matches!(body["state"].as_str(), Some("succeeded" | "failed")) {
            return body;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "operation {id} unfinished: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `body` with the values two reads can never share taken out: a list's `as_of` (the moment of
/// the read) and DigitalOcean's `request_id` (one per request it answers). The rest is untouched.
fn without_read_time(body: &str) -> String {
    let mut out = body.to_owned();
    for key in ["\"as_of\":\"", "\"request_id\":\""] {
        while let Some(start) = out.find(key) {
            let value = start + key.len();
            let end = out[value..].find('"').map_or(out.len(), |e| value + e + 1);
            out = format!("{}<{}>{}", &out[..start], &key[1..key.len() - 4], &out[end..]);
        }
    }
    out
}

/// The seed's four requests and a whole lifecycle, sent through the plugin; after each step every
/// read is asked of a second server on the same simulator with DigitalOcean in process, and the
/// two bodies must be the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugin_answers_byte_for_byte_as_in_process() {
    let sim = simulator(Duration::from_millis(200)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let plugin_config = write(dir.path(), "plugin.yaml", &digitalocean(&sim, true), false);
    let builtin_config = write(dir.path(), "builtin.yaml", &digitalocean(&sim, false), false);
    let through_plugin = Server::start(&plugin_config, &dir.path().join("plugin.log"));
    let in_process = Server::start(&builtin_config, &dir.path().join("builtin.log"));
    assert_eq!(children_named(through_plugin.child.id(), PLUGIN_PROCESS).len(), 1, "one plugin process");
    assert!(children_named(in_process.child.id(), PLUGIN_PROCESS).is_empty());
    let http = reqwest::Client::new();
    let p = "/api/v1/providers/digitalocean";

    let same = |what: String| {
        let (http, a, b) = (http.clone(), through_plugin.url.clone(), in_process.url.clone());
        async move {
            let (plugin_status, plugin_body) = get(&http, &format!("{a}{what}")).await;
            let (builtin_status, builtin_body) = get(&http, &format!("{b}{what}")).await;
            // A list says when it was read (`as_of`): the one field two reads cannot share.
            let (plugin_body, builtin_body) =
                (without_read_time(&plugin_body), without_read_time(&builtin_body));
            assert_eq!(plugin_status, builtin_status, "{what}: {plugin_body} vs {builtin_body}");
            assert_eq!(plugin_body, builtin_body, "{what}");
            plugin_body
        }
    };
    // Seed: list, regions, cost estimate.
    same(format!("{p}/instances?fresh=true")).await;
    same(format!("{p}/regions")).await;
    same(format!("{p}/instance-types")).await;
    let estimate = json!({"instance_type": "s-1vcpu-1gb", "region": "nyc1", "duration": "1d", "start": "2026-11-01T00:00:00Z"});
    let (a_status, a_cost) =
        post(&http, &format!("{}{p}/cost-estimate", through_plugin.url), estimate.clone()).await;
    let (b_status, b_cost) = post(&http, &format!("{}{p}/cost-estimate", in_process.url), estimate).await;
    assert_eq!((a_status, &a_cost), (b_status, &b_cost));
    assert_eq!(a_cost["cost"], json!(0.21), "{a_cost}");

    // Seed: create; then running -> off -> on -> deleted.
    let (status, created) = post(
        &http,
        &format!("{}{p}/instances", through_plugin.url),
        json!({"name": "plugin-web-1", "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64"}),
    )
    .await;
    assert_eq!(status, 202, "{created}");
    let done =
        wait_for_operation(&http, &through_plugin.url, created["operation_id"].as_str().expect("id")).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let id =
        done["instance_ids"][0].as_str().or(done["result"]["instance_ids"][0].as_str()).map(str::to_owned);
    let id = id.unwrap_or_else(|| panic!("instance id in {done}"));
    let running = |body: &str| serde_json::from_str::<Value>(body).expect("json")["status"] == "running";
    let started = Instant::now();
    while !running(&same(format!("{p}/instances/{id}")).await) {
        assert!(started.elapsed() < Duration::from_secs(10), "never running");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    same(format!("{p}/instances?fresh=true")).await;
    for (action, status) in [("power_off", "stopped"), ("power_on", "running")] {
        let (code, accepted) = post(
            &http,
            &format!("{}{p}/instances/{id}/actions", through_plugin.url),
            json!({"type": action}),
        )
        .await;
        assert_eq!(code, 202, "{accepted}");
        let done =
            wait_for_operation(&http, &through_plugin.url, accepted["operation_id"].as_str().expect("id"))
                .await;
        assert_eq!(done["state"], "succeeded", "{done}");
        let body: Value = serde_json::from_str(&same(format!("{p}/instances/{id}")).await).expect("json");
        assert_eq!(body["status"], status, "{body}");
    }
    let response =
        http.delete(format!("{}{p}/instances/{id}", through_plugin.url)).send().await.expect("delete");
    match response.status().as_u16() {
        204 => {}
        202 => {
            let accepted: Value = response.json().await.expect("json");
            let done = wait_for_operation(
                &http,
                &through_plugin.url,
                accepted["operation_id"].as_str().expect("id"),
            )
            .await;
            assert_eq!(done["state"], "succeeded", "{done}");
        }
        other => panic!("delete answered {other}"),
    }
    same(format!("{p}/instances/{id}")).await;
    same(format!("{p}/instances?fresh=true")).await;
    through_plugin.stop();
    in_process.stop();
}

/// kill -9 of the plugin during 100 list requests: every answer is 200, or 503 with Retry-After,
/// none waits past the call deadline, and the restarted plugin serves within 5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plugin_killed_during_a_burst_of_lists_is_back_within_five_seconds() {
    let sim = simulator(Duration::from_millis(100)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write(dir.path(), "config.yaml", &digitalocean(&sim, true), false);
    let server = Server::start(&config, &dir.path().join("server.log"));
    let first = children_named(server.child.id(), PLUGIN_PROCESS);
    assert_eq!(first.len(), 1);
    let http = reqwest::Client::new();
    let list = format!("{}/api/v1/providers/digitalocean/instances?fresh=true", server.url);

    let burst = futures_util::stream::iter(0..100)
        .map(|i| {
            let (http, list) = (http.clone(), list.clone());
            async move {
                tokio::time::sleep(Duration::from_millis(i * 15)).await;
                let asked = Instant::now();
                let response = http.get(&list).send().await.expect("the server answers");
                let retry_after = response.headers().get("retry-after").is_some();
                (response.status().as_u16(), retry_after, asked.elapsed())
            }
        })
        .buffer_unordered(100)
        .collect::<Vec<_>>();
    let killer = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let killed_at = Instant::now();
        let status = std::process::Command::new("kill").args(["-9", &first[0].to_string()]).status();
        assert!(status.expect("kill").success());
        killed_at
    };
    let (answers, killed_at) = tokio::join!(burst, killer);

    let unavailable = answers.iter().filter(|(s, _, _)| *s == 503).count();
    for (status, retry_after, took) in &answers {
        assert!(
            *status == 200 || (*status == 503 && *retry_after),
            "status {status}, Retry-After {retry_after}"
        );
        assert!(*took < Duration::from_secs(6), "an answer took {took:?}");
    }
    // Serving again, from a new process.
    loop {
        let (status, _) = get(&http, &list).await;
        if status == 200 {
            break;
        }
        assert!(killed_at.elapsed() < Duration::from_secs(5), "no plugin 5 s after the kill");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let back_after = killed_at.elapsed();
    let second = children_named(server.child.id(), PLUGIN_PROCESS);
    assert_eq!(second.len(), 1);
    assert_ne!(second, first, "a new plugin process");
    println!("100 lists: {} answered 503; served again {back_after:?} after the kill", unavailable);
    server.stop();
}

/// Creates with idempotency keys while the plugin is killed: once it is back and the callers have
/// retried, every key made exactly one droplet.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn creates_during_a_plugin_kill_are_neither_lost_nor_duplicated() {
    let sim = simulator(Duration::from_millis(100)).await;
    sim.set_faults(dosim::Faults { latency_ms: 50, ..Default::default() });
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write(dir.path(), "config.yaml", &digitalocean(&sim, true), true);
    let key = make_key(&config, "operator");
    let server = Server::start(&config, &dir.path().join("server.log"));
    let http = reqwest::Client::new();
    let url = server.url.clone();
    let create = |i: usize| {
        let (http, url, key) = (http.clone(), url.clone(), key.clone());
        async move {
            http.post(format!("{url}/api/v1/providers/digitalocean/instances"))
                .bearer_auth(&key)
                .header("Idempotency-Key", format!("storm-{i}"))
                .json(&json!({"name": format!("storm-{i}"), "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64"}))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    let storm = futures_util::stream::iter(0..40).map(create).buffer_unordered(8).collect::<Vec<_>>();
    let killer = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        for pid in children_named(server.child.id(), PLUGIN_PROCESS) {
            let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    };
    let (first_round, ()) = tokio::join!(storm, killer);
    assert!(first_round.iter().all(|s| *s == 202 || *s == 200 || *s == 503), "{first_round:?}");
    // The callers retry with the same keys until each is accepted.
    let started = Instant::now();
    loop {
        let again =
            futures_util::stream::iter(0..40).map(create).buffer_unordered(8).collect::<Vec<_>>().await;
        if again.iter().all(|s| *s == 202 || *s == 200) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "still refused: {again:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    wait_until_settled(&http, &url, &key, Duration::from_secs(60)).await;
    let droplets = all_droplets(&http, &sim).await;
    let names: Vec<&str> = droplets.iter().filter_map(|d| d["name"].as_str()).collect();
    let distinct: HashSet<&str> = names.iter().copied().collect();
    assert_eq!(names.len(), 40, "one droplet per key: {names:?}");
    assert_eq!(distinct.len(), 40, "no name twice: {names:?}");
    let operations: HashSet<String> = droplets.iter().filter_map(operation_of).collect();
    assert_eq!(operations.len(), 40, "one operation per droplet");
    server.stop();
}

/// Plugins that cannot start: the server starts anyway, serves its other providers, and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_that_cannot_start_are_listed_as_unavailable_with_the_reason() {
    let sim = simulator(Duration::from_millis(100)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let script = |name: &str, body: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("script");
        let _ = std::process::Command::new("chmod").arg("+x").arg(&path).status();
        path
    };
    let garbage = script("garbage", "echo hello world; sleep 30");
    let future_version = script("future", "echo '1|99|unix|/tmp/nowhere.sock|grpc'; sleep 30");
    let silent = script("silent", "sleep 30");
    let providers = format!(
        "{}  garbage:\n    plugin: {}\n  future:\n    plugin: {}\n  silent:\n    plugin: {}\n  tampered:\n    plugin: {}\n    sha256: \"{}\"\n",
        digitalocean(&sim, false),
        garbage.display(),
        future_version.display(),
        silent.display(),
        python_plugin().display(),
        "0".repeat(64),
    );
    let config = write(dir.path(), "config.yaml", &providers, false);
    let server = Server::start(&config, &dir.path().join("server.log"));
    let http = reqwest::Client::new();

    let (status, body) = get(&http, &format!("{}/api/v1/providers", server.url)).await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).expect("json");
    let error = |name: &str| {
        let p = body["providers"].as_array().expect("list").iter().find(|p| p["name"] == name).cloned();
        let p = p.unwrap_or_else(|| panic!("{name} listed: {body}"));
        assert_eq!(p["reachable"], json!(name == "digitalocean"), "{p}");
        p["error"].as_str().unwrap_or_default().to_owned()
    };
    assert!(error("garbage").contains("malformed handshake line"), "{}", error("garbage"));
    assert!(error("future").contains("protocol version 99 is not supported"), "{}", error("future"));
    assert!(error("silent").contains("printed no handshake line within 10 s"), "{}", error("silent"));
    assert!(error("tampered").contains("not the configured"), "{}", error("tampered"));
    assert!(error("digitalocean").is_empty());

    let (status, ready) = get(&http, &format!("{}/readyz", server.url)).await;
    assert_eq!(status, 503);
    assert!(ready.contains("malformed handshake line"), "{ready}");
    // The others serve; the broken ones answer 503 with Retry-After.
    let (status, _) = get(&http, &format!("{}/api/v1/providers/digitalocean/instances", server.url)).await;
    assert_eq!(status, 200);
    let response =
        http.get(format!("{}/api/v1/providers/garbage/regions", server.url)).send().await.expect("get");
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    server.stop();
}

/// `initialize` restarts a plugin with the settings now in the file; admin only, audited. And
/// stopping the server stops its plugins, leaving no process and no socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initialize_restarts_a_plugin_from_the_file_and_shutdown_leaves_nothing_behind() {
    nephele_digitalocean::install_crypto_provider();
    let dir = tempfile::tempdir().expect("temp dir");
    let section = |file: &str| {
        format!(
            "  inventory:\n    plugin: {}\n    inventory_file: {}\n",
            python_plugin().display(),
            dir.path().join(file).display()
        )
    };
    let config = write(dir.path(), "config.yaml", &section("first.json"), true);
    let admin = make_key(&config, "admin");
    let operator = make_key(&config, "operator");
    let server = Server::start(&config, &dir.path().join("server.log"));
    let http = reqwest::Client::new();
    let base = format!("{}/api/v1/providers/inventory", server.url);

    // Through the API like any provider: a create in the Python plugin's cloud.
    let response = http
        .post(format!("{base}/instances"))
        .bearer_auth(&operator)
        .json(&json!({"name": "py-1", "type": "small", "region": "lab1", "image_id": "debian-12"}))
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), 202);
    let started = Instant::now();
    loop {
        let list: Value = http
            .get(format!("{base}/instances?fresh=true"))
            .bearer_auth(&operator)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        if list["instances"].as_array().is_some_and(|l| l.len() == 1) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first_pid = children_named(server.child.id(), PYTHON_PLUGIN_PROCESS);

    // The file now points at another inventory; an operator may not restart, an admin may.
    std::fs::write(
        &config,
        std::fs::read_to_string(&config).expect("read").replace("first.json", "second.json"),
    )
    .expect("write");
    let refused = http.post(format!("{base}/initialize")).bearer_auth(&operator).send().await.expect("post");
    assert_eq!(refused.status(), 403);
    let restarted = http.post(format!("{base}/initialize")).bearer_auth(&admin).send().await.expect("post");
    assert_eq!(restarted.status(), 200);
    let info: Value = restarted.json().await.expect("json");
    assert_eq!(info["name"], "inventory");
    assert_eq!(info["reachable"], true, "{info}");
    assert_ne!(children_named(server.child.id(), PYTHON_PLUGIN_PROCESS), first_pid, "a new process");
    let list: Value = http
        .get(format!("{base}/instances?fresh=true"))
        .bearer_auth(&operator)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(list["instances"].as_array().map(Vec::len), Some(0), "the second inventory is empty: {list}");

    // A file naming a program that is not there: a problem saying so.
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .expect("read")
            .replace("nephele-provider-inventory", "nephele-provider-missing"),
    )
    .expect("write");
    // A start that fails at once is answered every time (it once could be missed, and the
    // request hung): 10 in a row, each within 10 s.
    for _ in 0..10 {
        let failed = http
            .post(format!("{base}/initialize"))
            .bearer_auth(&admin)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("answered");
        assert_eq!(failed.status(), 503);
        let problem: Value = failed.json().await.expect("json");
        assert!(problem["detail"].as_str().unwrap_or_default().contains("cannot start"), "{problem}");
    }

    let audit: Value = http
        .get(format!("{}/api/v1/audit", server.url))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("audit")
        .json()
        .await
        .expect("json");
    let initializations = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["path"].as_str().is_some_and(|p| p.ends_with("/initialize")))
        .count();
    assert_eq!(initializations, 12, "{audit}");

    // Back to a working plugin, then a clean stop: no process, no socket left.
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .expect("read")
            .replace("nephele-provider-missing", "nephele-provider-inventory"),
    )
    .expect("write");
    assert_eq!(
        http.post(format!("{base}/initialize")).bearer_auth(&admin).send().await.expect("post").status(),
        200
    );
    let plugin = children_named(server.child.id(), PYTHON_PLUGIN_PROCESS);
    assert_eq!(plugin.len(), 1);
    // The plugin's own private directory, as the host told it (other tests on the machine make
    // and remove folders of the same prefix, so counting them would measure those).
    let environ = std::fs::read(format!("/proc/{}/environ", plugin[0])).expect("the plugin's environment");
    let socket_dir = environ
        .split(|b| *b == 0)
        .find_map(|v| v.strip_prefix(b"NEPHELE_PLUGIN_SOCKET_DIR="))
        .map(|v| std::path::PathBuf::from(String::from_utf8_lossy(v).into_owned()))
        .expect("NEPHELE_PLUGIN_SOCKET_DIR in the plugin's environment");
    assert!(socket_dir.is_dir(), "{socket_dir:?} exists while the plugin runs");
    let status = server.stop();
    assert!(status.success(), "{status}");
    assert!(!Path::new(&format!("/proc/{}", plugin[0])).exists(), "the plugin outlived the server");
    assert!(!socket_dir.exists(), "the plugin's socket folder {socket_dir:?} was removed");
}

/// A server killed with SIGKILL cannot stop its plugins; they notice their stdin close and exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_exits_when_its_server_is_killed() {
    let sim = simulator(Duration::from_millis(100)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write(dir.path(), "config.yaml", &digitalocean(&sim, true), false);
    let server = Server::start(&config, &dir.path().join("server.log"));
    let plugin = children_named(server.child.id(), PLUGIN_PROCESS);
    assert_eq!(plugin.len(), 1);
    server.kill_hard();
    let killed = Instant::now();
    while Path::new(&format!("/proc/{}/stat", plugin[0])).exists() {
        // A zombie waiting for its (gone) parent's reaping counts as exited.
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", plugin[0])).unwrap_or_default();
        if stat.contains(") Z ") || stat.is_empty() {
            break;
        }
        assert!(killed.elapsed() < Duration::from_secs(5), "an orphan plugin: {stat}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `plugin: inventory` (a bare name) is found as `plugins/nephele-provider-inventory` next to the
/// configuration file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_plugin_name_is_found_in_the_plugins_folder() {
    nephele_digitalocean::install_crypto_provider();
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("plugins")).expect("plugins folder");
    let installed = dir.path().join("plugins/nephele-provider-inventory");
    std::fs::write(&installed, format!("#!/bin/sh\nexec {} \"$@\"\n", python_plugin().display()))
        .expect("write");
    let _ = std::process::Command::new("chmod").arg("+x").arg(&installed).status();
    let section = format!(
        "  inventory:\n    plugin: inventory\n    inventory_file: {}\n",
        dir.path().join("i.json").display()
    );
    let config = write(dir.path(), "config.yaml", &section, false);
    let server = Server::start(&config, &dir.path().join("server.log"));
    let (status, body) =
        get(&reqwest::Client::new(), &format!("{}/api/v1/providers/inventory", server.url)).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(body["reachable"], true, "{body}");
    assert_eq!(body["display_name"], "Local inventory (Python example)");
    server.stop();
}

/// A plugin call carries the request's id (`x-request-id` metadata), so the plugin's own log
/// line for it names the same request as the server's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_call_carries_the_request_id() {
    nephele_digitalocean::install_crypto_provider();
    let dir = tempfile::tempdir().expect("temp dir");
    let section = format!(
        "  inventory:\n    plugin: {}\n    inventory_file: {}\n",
        python_plugin().display(),
        dir.path().join("i.json").display()
    );
    let config = write(dir.path(), "config.yaml", &section, false);
    let log = dir.path().join("server.log");
    let server = Server::start_with(&config, &log, &[], "info");
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/providers/inventory/instances/no-such-one", server.url))
        .header("x-request-id", "trace-the-plugin-7")
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 404);
    server.stop();
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(
        text.lines().any(|l| l.contains("GetInstance id=no-such-one request_id=trace-the-plugin-7")),
        "the plugin did not see the request's id:\n{text}"
    );
}
