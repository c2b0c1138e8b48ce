//! SIGTERM, the way services are stopped: the server finishes what is in flight, hands its
//! operations back for the other replica to resume at once (not when a lease runs out), leaves,
//! and exits 0.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::postgres::TestDatabase;
use crate::support::{
    Server, all_droplets, make_key, operation_of, operations, simulator, wait_until_settled, write_config,
};

const CREATE: &str = "/api/v1/providers/digitalocean/instances";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_during_a_storm_of_creates_hands_every_operation_to_the_other_replica_at_once() {
    let database = TestDatabase::create().await;
    // Droplets take 4 s to boot, so most creates are still being followed when A stops.
    let sim = simulator(Duration::from_secs(4)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    // A lease of 60 s: were B to wait for A's leases to run out, this test would take minutes.
    let config = write_config(dir.path(), &sim, &database.url, 60);
    let key = make_key(&config, "operator");
    let a = Server::start(&config, &dir.path().join("a.log"));
    let b = Server::start(&config, &dir.path().join("b.log"));
    let (a_url, b_url) = (a.url.clone(), b.url.clone());
    let http = reqwest::Client::new();
    let create = |url: String, i: usize| {
        let (http, key) = (http.clone(), key.clone());
        async move {
            let body = json!({"name": format!("storm-{i}"), "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64"});
            http.post(format!("{url}{CREATE}"))
                .bearer_auth(&key)
                .header("Idempotency-Key", format!("storm-{i}"))
                .json(&body)
                .send()
                .await
        }
    };

    // 50 creates to A, a few at a time; A gets SIGTERM half way through.
    let mut answers: Vec<Option<Value>> = vec![None; 50];
    let mut stopped = None;
    let mut a = Some(a);
    for batch in (0..50).collect::<Vec<_>>().chunks(5) {
        if batch[0] == 25 {
            let server = a.take().expect("A runs");
            stopped = Some(tokio::task::spawn_blocking(move || {
                let status = server.terminate();
                (status, OffsetDateTime::now_utc())
            }));
        }
        let sent = join_all(batch.iter().map(|i| create(a_url.clone(), *i))).await;
        for (i, response) in batch.iter().zip(sent) {
            if let Ok(response) = response
                && response.status() == 202
            {
                answers[*i] = Some(response.json().await.expect("json"));
            }
        }
    }
    let (status, exited_at) = stopped.expect("stopped").await.expect("joined");
    assert!(status.success(), "a SIGTERM'd server exits 0: {status:?}");
    let replicas = || async {
        use sqlx::Connection;
        let mut db = sqlx::PgConnection::connect(&database.url).await.expect("database");
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM replicas").fetch_one(&mut db).await.expect("count");
        count
    };
    assert_eq!(replicas().await, 1, "A left the replicas table as it stopped");
    // What A did not answer (it stopped accepting) is sent again to B with the same key.
    for (i, answer) in answers.iter_mut().enumerate() {
        if answer.is_none() {
            let response = create(b_url.clone(), i).await.expect("B answers");
            assert_eq!(response.status(), 202, "storm-{i}");
            *answer = Some(response.json().await.expect("json"));
        }
    }

    // Every operation A handed back is taken up by B within 2 s of A's exit.
    let handed_back: HashSet<String> = operations(&http, &b_url, &key, "state=running&limit=100")
        .await
        .into_iter()
        .chain(operations(&http, &b_url, &key, "state=pending&limit=100").await)
        .filter_map(|op| op["id"].as_str().map(str::to_owned))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ops = operations(&http, &b_url, &key, "limit=100").await;
        let untouched: Vec<&Value> = ops
            .iter()
            .filter(|op| op["id"].as_str().is_some_and(|id| handed_back.contains(id)))
            .filter(|op| {
                let updated = op["updated_at"].as_str().and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
                updated.is_none_or(|u| u <= exited_at)
            })
            .collect();
        if untouched.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "{} handed-back operations never resumed", untouched.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // When each was first stepped again cannot be read back (each step moves `updated_at`), so
    // the loop above bounds it: every one had been stepped again when the loop saw it, and the
    // loop ended this long after A exited.
    let all_resumed_within = OffsetDateTime::now_utc() - exited_at;
    eprintln!(
        "{} operations unfinished when A exited; B had stepped every one within {all_resumed_within:?}",
        handed_back.len()
    );
    // The target is 2 s (the figure above, typically under one); the assertion keeps a margin
    // for a busy machine while staying far below the 60 s lease a takeover would wait for.
    assert!(
        all_resumed_within < time::Duration::seconds(10),
        "resumed after {all_resumed_within:?}, not at once"
    );

    // A wrote no heartbeat after it left (it heartbeats every 2 s while it runs).
    assert_eq!(replicas().await, 1, "only B heartbeats");

    // 0 lost, 0 duplicated: 50 operations, each succeeded, each made one droplet.
    wait_until_settled(&http, &b_url, &key, Duration::from_secs(60)).await;
    let ids: HashSet<String> = answers
        .iter()
        .map(|a| a.as_ref().and_then(|a| a["operation_id"].as_str()).expect("an operation").to_owned())
        .collect();
    assert_eq!(ids.len(), 50, "one operation per create");
    let succeeded = operations(&http, &b_url, &key, "state=succeeded&limit=100").await;
    assert_eq!(succeeded.len(), 50, "every create succeeded");
    let droplets = all_droplets(&http, &sim).await;
    let mut per_operation: HashMap<String, usize> = HashMap::new();
    for droplet in &droplets {
        *per_operation.entry(operation_of(droplet).expect("tagged")).or_default() += 1;
    }
    assert_eq!(droplets.len(), 50, "no create lost or made twice");
    assert!(per_operation.values().all(|n| *n == 1));
    assert_eq!(per_operation.keys().cloned().collect::<HashSet<_>>(), ids);
    drop(b);
    database.cleanup().await;
}
