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
