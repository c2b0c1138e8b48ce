//! The `dosim` binary itself, as scripts and the conformance run start it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

#[tokio::test]
async fn the_binary_with_10000_droplets_serves_page_50_of_200() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dosim"))
        .args(["--listen", "127.0.0.1:0", "--droplets", "10000", "--token", "bin-token"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start dosim");
    let mut banner = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut banner).expect("banner");
    let addr =
        banner.split("listening on ").nth(1).and_then(|s| s.split_whitespace().next()).expect("address");

    let response = crate::helpers::http_client()
        .get(format!("http://{addr}/v2/droplets?per_page=200&page=50"))
        .bearer_auth("bin-token")
        .send()
        .await
        .expect("request");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    let droplets = body["droplets"].as_array().expect("droplets");
    assert_eq!(droplets.len(), 200);
    assert_eq!(body["meta"]["total"], 10000);
    // Droplets are listed oldest first: page 50 holds droplets 9,801..=10,000.
    assert_eq!(droplets[0]["name"], "sim-009801");
    assert_eq!(droplets[199]["name"], "sim-010000");
    let pages = &body["links"]["pages"];
    assert!(pages.get("next").is_none(), "the last page has no next link");
    assert!(pages["prev"].as_str().expect("prev").contains("page=49"));
    assert!(pages["first"].as_str().expect("first").contains("page=1"));
}

#[tokio::test]
async fn the_binary_starts_100_accounts_of_100_droplets_in_well_under_a_second() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dosim"));
    command.args(["--listen", "127.0.0.1:0"]);
    for i in 0..100 {
        command.args(["--account", &format!("team-{i:03}:token-{i:03}:100")]);
    }
    let mut child = command.stdout(Stdio::piped()).spawn().expect("start dosim");
    let mut banner = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut banner).expect("banner");
    let ready_ms: u64 = banner
        .split("ready in ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("ready time in the banner");
    let addr =
        banner.split("listening on ").nth(1).and_then(|s| s.split_whitespace().next()).expect("address");
    let http = crate::helpers::http_client();
    let list = |token: &'static str| {
        http.get(format!("http://{addr}/v2/droplets?per_page=1")).bearer_auth(token).send()
    };
    let team_57 = list("token-057").await.expect("request");
    let default_token = list("dosim-token").await.expect("request");
    let _ = child.kill();
    let _ = child.wait();
    assert!(banner.contains("10000 droplets in 100 accounts"), "{banner}");
    assert!(ready_ms < 500, "100 x 100 droplets took {ready_ms} ms to build");
    assert_eq!(team_57.json::<Value>().await.expect("json")["meta"]["total"], 100);
    assert_eq!(default_token.status(), 401, "with --account only, there is no default account");
}

#[tokio::test]
async fn the_binary_pre_creates_volumes_snapshots_and_reserved_ips_some_of_them_idle() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dosim"))
        .args(["--listen", "127.0.0.1:0", "--token", "bin-token", "--droplets", "1000", "--volumes", "500"])
        .args(["--snapshots", "200", "--reserved-ips", "100"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start dosim");
    let mut banner = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut banner).expect("banner");
    let addr =
        banner.split("listening on ").nth(1).and_then(|s| s.split_whitespace().next()).expect("address");
    let http = crate::helpers::http_client();
    let mut bodies = Vec::new();
    for path in ["/v2/volumes?per_page=200", "/v2/snapshots?per_page=200", "/v2/reserved_ips?per_page=100"] {
        let response =
            http.get(format!("http://{addr}{path}")).bearer_auth("bin-token").send().await.expect("request");
        bodies.push(response.json::<Value>().await.expect("json"));
    }
    let _ = child.kill();
    let _ = child.wait();
    let [volumes, snapshots, ips] = bodies.try_into().expect("three answers");
    assert_eq!(
        (volumes["meta"]["total"].clone(), snapshots["meta"]["total"].clone()),
        (500.into(), 200.into())
    );
    assert_eq!(ips["meta"]["total"], 100);
    let idle_volumes = volumes["volumes"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|v| v["droplet_ids"] == serde_json::json!([]))
        .count();
    assert!(
        (20..200).contains(&idle_volumes),
        "about one in four attached to nothing: {idle_volumes} of 200"
    );
    let idle_ips =
        ips["reserved_ips"].as_array().expect("list").iter().filter(|ip| ip["droplet"].is_null()).count();
    assert!((10..60).contains(&idle_ips), "about one in three assigned to nothing: {idle_ips} of 100");
    let droplet_snapshots = snapshots["snapshots"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|s| s["resource_type"] == "droplet")
        .count();
    assert_eq!(droplet_snapshots, 100);
}

#[tokio::test]
async fn the_binary_starts_on_a_set_clock_with_each_accounts_starting_balance() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dosim"))
        .args(["--listen", "127.0.0.1:0", "--token", "bin-token", "--account", "team:team-token"])
        .args(["--clock", "2026-03-01T00:00:00Z", "--account-balance", "team=-2.50"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start dosim");
    let mut banner = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut banner).expect("banner");
    let addr =
        banner.split("listening on ").nth(1).and_then(|s| s.split_whitespace().next()).expect("address");
    let http = crate::helpers::http_client();
    let mut balances = Vec::new();
    for token in ["bin-token", "team-token"] {
        let response = http
            .get(format!("http://{addr}/v2/customers/my/balance"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        balances.push(response.json::<Value>().await.expect("json"));
    }
    let _ = child.kill();
    let _ = child.wait();
    let shown = |b: &Value| (b["account_balance"].clone(), b["generated_at"].clone());
    assert_eq!(shown(&balances[0]), ("0.00".into(), "2026-03-01T00:00:00Z".into()));
    assert_eq!(shown(&balances[1]), ("-2.50".into(), "2026-03-01T00:00:00Z".into()));

    for bad in
        [["--clock", "yesterday"], ["--account-balance", "nobody=1"], ["--account-balance", "default=0.001"]]
    {
        let refused = Command::new(env!("CARGO_BIN_EXE_dosim"))
            .args(["--listen", "127.0.0.1:0"])
            .args(bad)
            .output()
            .expect("run dosim");
        assert_eq!(refused.status.code(), Some(2), "{bad:?} is refused at start");
    }
}
