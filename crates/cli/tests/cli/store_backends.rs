//! The store's guarantees, checked the same way on SQLite and on PostgreSQL.

use futures_util::future::join_all;
use nephele_core::{InstanceId, OperationId};
use nephele_engine::operations::record::{OperationRequest, OperationResult};
use nephele_engine::store::{KeyRequest, NewOperation, OperationState, OperationUpdate, Reservation, Store};

use crate::postgres::TestDatabase;

fn operation(id: OperationId, request: &OperationRequest) -> NewOperation<'_> {
    NewOperation {
        id,
        provider: "digitalocean",
        request,
        principal: "tester",
        lease_owner: "nobody",
        lease_ms: -1,
        at: time::OffsetDateTime::now_utc(),
    }
}

async fn store_guarantees(store: Store) {
    // Migrating again changes nothing.
    store.migrate().await.expect("second migration");

    // Twenty workers race for one operation: exactly one gets it.
    let request = OperationRequest::Delete {
        instance_id: InstanceId("500000001".into()),
        associated: nephele_core::AssociatedResources::default(),
    };
    let race = OperationId::new();
    let race_id = race.to_string();
    let race_id = race_id.as_str();
    store.insert_operation(operation(race, &request)).await.expect("insert");
    let claims = join_all((0..20).map(|i| {
        let store = store.clone();
        async move { store.claim_operation(race_id, &format!("worker-{i}"), 60_000).await.expect("claim") }
    }))
    .await;
    assert_eq!(claims.iter().filter(|won| **won).count(), 1, "one lease holder");
    let winner = format!("worker-{}", claims.iter().position(|w| *w).expect("a winner"));
    // Only the holder's update counts.
    let result = OperationResult::Deleted { deleted: true };
    let done = OperationUpdate {
        state: OperationState::Succeeded,
        result: Some(&result),
        error: None,
        next_attempt_ms: 0,
        count_attempt: true,
    };
    store.update_operation(race_id, "worker-x", done).await.expect("stranger's update");
    assert_eq!(
        store.get_operation(race_id).await.expect("get").expect("exists").state,
        OperationState::Pending
    );
    store.update_operation(race_id, &winner, done).await.expect("holder's update");
    let finished = store.get_operation(race_id).await.expect("get").expect("exists");
    assert_eq!(finished.state, OperationState::Succeeded);
    assert_eq!(finished.result, Some(OperationResult::Deleted { deleted: true }));
    assert_eq!(finished.request.map(|(_, r)| r).ok(), Some(request.clone()), "the request reads back typed");
    assert!(
        !store.claim_operation(race_id, "late", 60_000).await.expect("claim"),
        "finished work is not claimed"
    );

    // Twenty requests race for one idempotency key: one reserves it (with its operation).
    let ids: Vec<OperationId> = (0..20).map(|_| OperationId::new()).collect();
    let reservations = join_all(ids.iter().map(|id| {
        let store = store.clone();
        let request = request.clone();
        async move {
            let id = *id;
            let key = KeyRequest {
                principal: "tester",
                key: "same",
                method: "POST",
                path: "/x",
                request_hash: "h",
                ttl_ms: 60_000,
                estimate: false,
                max_live: ROOMY,
            };
            matches!(
                store.reserve_key(key, Some(operation(id, &request))).await.expect("reserve"),
                Reservation::Reserved
            )
        }
    }))
    .await;
    assert_eq!(reservations.iter().filter(|r| **r).count(), 1, "one request holds the key");
    let recorded = store.list_operations(None, None, 100).await.expect("list");
    assert_eq!(
        recorded.iter().filter(|o| ids.iter().any(|id| id.to_string() == o.id)).count(),
        1,
        "and only its operation was recorded"
    );
    store.complete_key("tester", "same", 202, "{\"body\":1}").await.expect("complete");
    let stored = store.get_key("tester", "same").await.expect("get").expect("exists");
    assert_eq!(stored.response_status, Some(202));

    // An expired key may be used afresh.
    let expired = KeyRequest {
        principal: "tester",
        key: "old",
        method: "POST",
        path: "/x",
        request_hash: "h",
        ttl_ms: -1,
        estimate: false,
        max_live: ROOMY,
    };
    assert!(matches!(store.reserve_key(expired, None).await.expect("reserve"), Reservation::Reserved));
    let again = KeyRequest {
        principal: "tester",
        key: "old",
        method: "POST",
        path: "/y",
        request_hash: "other",
        ttl_ms: 60_000,
        estimate: false,
        max_live: ROOMY,
    };
    assert!(matches!(store.reserve_key(again, None).await.expect("reserve"), Reservation::Reserved));

    // Keys and the audit log.
    let issued = nephele_engine::auth::issue_key(
        &store,
        nephele_engine::auth::Role::Viewer,
        Some(&["digitalocean".to_owned()]),
        None,
    )
    .await
    .expect("issue");
    let found = store.find_api_key(&issued.id).await.expect("find").expect("exists");
    assert_eq!(found.providers, Some(vec!["digitalocean".to_owned()]));
    assert!(!found.hash.contains(&issued.key[16..]), "only a hash is stored");
    assert!(store.revoke_api_key(&issued.id).await.expect("revoke"));
    assert!(!store.revoke_api_key(&issued.id).await.expect("revoke twice"));
    for (i, path) in ["/first", "/second"].iter().enumerate() {
        let entry = nephele_engine::store::AuditEntry {
            principal: "tester".into(),
            method: "POST".into(),
            path: (*path).into(),
            provider: Some(if i == 0 { "aws" } else { "digitalocean" }.into()),
            ..nephele_engine::store::AuditEntry::new(200 + i as u16, "succeeded")
        };
        store.append_audit(&entry).await.expect("append");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let audit = store.list_audit(10, None).await.expect("audit");
    assert_eq!(
        audit.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
        ["/second", "/first"],
        "newest first"
    );
    let scoped = store.list_audit(10, Some(&["aws".to_owned()])).await.expect("scoped audit");
    assert_eq!(scoped.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), ["/first"], "only aws entries");
    assert!(store.list_audit(10, Some(&[])).await.expect("empty scope").is_empty());

    // Operations are listed within a scope.
    let scoped_ops = store.list_operations(None, Some(&["aws".to_owned()]), 100).await.expect("scoped");
    assert!(scoped_ops.is_empty(), "every operation here is digitalocean's: {scoped_ops:?}");
    let do_ops = store.list_operations(None, Some(&["digitalocean".to_owned()]), 100).await.expect("scoped");
    assert_eq!(do_ops.len(), store.list_operations(None, None, 100).await.expect("all").len());

    // Quotas: operations' keys are refused past theirs; estimates' oldest are forgotten.
    let quota_key = |key: &'static str, estimate: bool| KeyRequest {
        principal: "quota-tester",
        key,
        method: "POST",
        path: "/q",
        request_hash: "h",
        ttl_ms: 60_000,
        estimate,
        max_live: 2,
    };
    for key in ["o1", "o2"] {
        assert!(matches!(
            store.reserve_key(quota_key(key, false), None).await.expect("reserve"),
            Reservation::Reserved
        ));
    }
    assert!(matches!(
        store.reserve_key(quota_key("o3", false), None).await.expect("reserve"),
        Reservation::QuotaExceeded
    ));
    assert!(store.get_key("quota-tester", "o3").await.expect("get").is_none(), "a refused key is not kept");
    assert!(
        matches!(
            store.reserve_key(quota_key("o1", false), None).await.expect("replay"),
            Reservation::Existing(_)
        ),
        "a key already held is still found at the quota"
    );
    for key in ["e1", "e2", "e3", "e4"] {
        assert!(matches!(
            store.reserve_key(quota_key(key, true), None).await.expect("reserve"),
            Reservation::Reserved
        ));
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    assert!(
        store.get_key("quota-tester", "e1").await.expect("get").is_none(),
        "the oldest estimate key went"
    );
    assert!(store.get_key("quota-tester", "e4").await.expect("get").is_some());
    assert!(
        store.get_key("quota-tester", "o2").await.expect("get").is_some(),
        "operations' keys are not evicted"
    );

    // Purging removes expired keys and old audit entries, and nothing else.
    let before = store.count_keys().await.expect("count");
    let expiring = KeyRequest { ttl_ms: -10, ..quota_key("gone", true) };
    store.reserve_key(expiring, None).await.expect("reserve");
    let (keys, audit) = store.purge_expired(0).await.expect("purge");
    assert!(keys >= 1, "the expired key was purged");
    assert_eq!(audit, 0, "no audit entry is older than the epoch");
    assert_eq!(store.count_keys().await.expect("count"), before - (keys as i64 - 1));
    let (_, audit) = store.purge_expired(i64::MAX).await.expect("purge all audit");
    assert!(audit >= 2);
    assert_eq!(store.count_audit().await.expect("count"), 0);
}

const ROOMY: i64 = 1_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_keeps_its_guarantees_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store =
        Store::open(&format!("sqlite://{}/store.db", dir.path().display())).await.expect("open sqlite");
    store_guarantees(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_keeps_its_guarantees_on_postgres() {
    let database = TestDatabase::create().await;
    let store = Store::open(&database.url).await.expect("open postgres");
    store_guarantees(store).await;
    database.cleanup().await;
}
