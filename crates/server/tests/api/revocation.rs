//! Revoking a key while it makes keys (issue 18, finding 10): once the revocation is committed
//! (its `DELETE` answered), the revoked key has made its last key. Raced 100 times on SQLite and
//! on PostgreSQL, through the HTTP API.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nephele_engine::auth::{Role, issue_key};
use nephele_engine::store::Store;
use nephele_server::{App, Config};
use serde_json::json;

use crate::postgres::TestDatabase;

/// Requests making keys at once with the key being revoked.
const MINTERS: usize = 4;
const RACES: usize = 100;

/// A server with no provider and keys required, on `database_url`; its address.
async fn serve(database_url: &str) -> String {
    nephele_digitalocean::install_crypto_provider();
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:0\ndatabase:\n  url: {database_url}\nauth:\n  required: true\n"
    );
    let config = Config::parse(&yaml, Path::new("test.yaml"), |_| None).expect("config");
    let app = App::build(config).await.expect("build app");
    let base = format!("http://{}", app.addr());
    tokio::spawn(app.run());
    base
}

async fn ids(store: &Store) -> BTreeSet<String> {
    store.list_api_keys().await.expect("keys").into_iter().map(|k| k.id).collect()
}

/// Runs the races; how many keys were made after their maker's revocation was answered.
async fn keys_made_after_revocation(database_url: &str) -> usize {
    let base = serve(database_url).await;
    let store = Store::open(database_url).await.expect("store");
    let http = reqwest::Client::new();
    let revoker = issue_key(&store, Role::Admin, None, None).await.expect("key").key;
    let mut late = 0;
    for race in 0..RACES {
        let doomed = issue_key(&store, Role::Admin, None, None).await.expect("key");
        let made = Arc::new(AtomicUsize::new(0));
        let minters: Vec<_> = (0..MINTERS)
            .map(|_| {
                let (http, base, key, made) = (http.clone(), base.clone(), doomed.key.clone(), made.clone());
                tokio::spawn(async move {
                    loop {
                        let answer = http
                            .post(format!("{base}/api/v1/keys"))
                            .bearer_auth(&key)
                            .json(&json!({"role": "viewer", "description": "made in a race"}))
                            .send()
                            .await
                            .expect("sent");
                        match answer.status().as_u16() {
                            201 => made.fetch_add(1, Ordering::SeqCst),
                            status => return status,
                        };
                    }
                })
            })
            .collect();
        // Revoke while keys are being made: after the first, and a little later each race.
        let deadline = Instant::now() + Duration::from_secs(30);
        while made.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "race {race}: no key was made");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_micros(fastrand::u64(0..3000))).await;
        let revoked = http
            .delete(format!("{base}/api/v1/keys/{}", doomed.id))
            .bearer_auth(&revoker)
            .send()
            .await
            .expect("sent");
        assert_eq!(revoked.status(), 204, "race {race}");
        let committed = ids(&store).await;
        for minter in minters {
            assert_eq!(minter.await.expect("minter"), 401, "race {race}: the revoked key is refused");
        }
        late += ids(&store).await.difference(&committed).count();
    }
    late
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoked_key_makes_no_key_after_its_revocation_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let late = keys_made_after_revocation(&format!("sqlite://{}/nephele.db", dir.path().display())).await;
    assert_eq!(late, 0, "keys made after the revocation was committed, in {RACES} races");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoked_key_makes_no_key_after_its_revocation_on_postgres() {
    let database = TestDatabase::create().await;
    let late = keys_made_after_revocation(&database.url).await;
    database.cleanup().await;
    assert_eq!(late, 0, "keys made after the revocation was committed, in {RACES} races");
}

/// Keys are verified once and kept in memory; a revocation made on one replica is refused by
/// another within `auth.revocation_delay_secs` (2 s), on one PostgreSQL database.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_revoked_on_one_replica_is_refused_by_the_other_within_two_seconds() {
    let database = TestDatabase::create().await;
    let (a, b) = (serve(&database.url).await, serve(&database.url).await);
    let store = Store::open(&database.url).await.expect("store");
    let admin = issue_key(&store, Role::Admin, None, None).await.expect("key").key;
    let viewer = issue_key(&store, Role::Viewer, None, None).await.expect("key");
    let http = reqwest::Client::new();
    let list = |base: &str, key: &str| http.get(format!("{base}/api/v1/operations")).bearer_auth(key).send();
    // B has verified the viewer's key, and keeps it.
    for _ in 0..3 {
        assert_eq!(list(&b, &viewer.key).await.expect("sent").status(), 200);
    }
    let revoked =
        http.delete(format!("{a}/api/v1/keys/{}", viewer.id)).bearer_auth(&admin).send().await.expect("sent");
    assert_eq!(revoked.status(), 204);
    let revoked_at = Instant::now();
    assert_eq!(
        list(&a, &viewer.key).await.expect("sent").status(),
        401,
        "refused at once where it was revoked"
    );
    loop {
        if list(&b, &viewer.key).await.expect("sent").status() == 401 {
            break;
        }
        assert!(revoked_at.elapsed() < Duration::from_secs(10), "the other replica still accepts the key");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = revoked_at.elapsed();
    eprintln!("the other replica refused the revoked key {} ms after the revocation", took.as_millis());
    // The target is 2 s (auth.revocation_delay_secs); a busy machine gets some margin.
    assert!(took < Duration::from_secs(4), "took {took:?}");
    database.cleanup().await;
}

/// Only keys that check out are kept: a flood of random keys leaves the verified keys as they
/// were, and a valid key is still answered from memory throughout.
#[tokio::test]
async fn random_keys_are_not_kept_and_do_not_crowd_out_a_valid_one() {
    nephele_digitalocean::install_crypto_provider();
    let data = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/n.db", data.path().display());
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:0\ndatabase:\n  url: {url}\nauth:\n  required: true\n  max_cached_keys: 8\n"
    );
    let app = App::build(Config::parse(&yaml, Path::new("test.yaml"), |_| None).expect("config"))
        .await
        .expect("app");
    let state = app.state();
    let base = format!("http://{}", app.addr());
    tokio::spawn(app.run());
    let valid = issue_key(&state.store, Role::Viewer, None, None).await.expect("key").key;
    let http = reqwest::Client::new();
    let ask = |key: String| http.get(format!("{base}/api/v1/operations")).bearer_auth(key).send();
    assert_eq!(ask(valid.clone()).await.expect("sent").status(), 200);
    assert_eq!(state.guards.keys.len(), 1);
    for i in 0..500 {
        let random = format!("nph_{:012x}_{}", fastrand::u64(..), uuid::Uuid::new_v4().simple());
        assert_eq!(ask(random).await.expect("sent").status(), 401);
        if i % 50 == 0 {
            assert_eq!(ask(valid.clone()).await.expect("sent").status(), 200, "the valid key still works");
        }
    }
    assert_eq!(state.guards.keys.len(), 1, "no random key was kept");
}
