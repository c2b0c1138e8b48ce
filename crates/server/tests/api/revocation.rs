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
