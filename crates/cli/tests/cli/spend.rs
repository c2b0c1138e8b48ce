//! `nephele budgets ...` and `nephele costs history ...` against a live server: a budget made,
//! listed, changed and deleted; the history grouped as asked, as JSON.

use serde_json::Value;

use crate::{live_server, nephele, stdout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_are_made_listed_changed_and_deleted_and_history_is_grouped() {
    let live = live_server().await;
    let s = live.server.as_str();

    let made = nephele(
        s,
        &[
            "-o",
            "json",
            "budgets",
            "create",
            "--name",
            "team-web",
            "--amount",
            "500",
            "--period",
            "quarter",
            "--threshold",
            "80%:forecast",
            "--threshold",
            "450:actual",
            "--tag",
            "team:web",
            "--enforce",
            "warn",
        ],
    );
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let budget: Value = serde_json::from_str(&stdout(&made)).expect("json");
    assert_eq!(budget["amount"], "500.00");
    assert_eq!(budget["thresholds"][0]["level"], "400.00");
    assert_eq!(budget["thresholds"][1]["basis"], "actual");
    assert_eq!(budget["scope"]["tags"][0], "team:web");
    let id = budget["id"].as_str().expect("id").to_owned();

    let listed = stdout(&nephele(s, &["budgets", "list"]));
    assert!(
        listed.contains("team-web") && listed.contains("500.00 USD") && listed.contains("80% forecast ok"),
        "{listed}"
    );
    let updated = nephele(s, &["-o", "json", "budgets", "update", &id, "--amount", "600"]);
    assert!(updated.status.success(), "{}", String::from_utf8_lossy(&updated.stderr));
    let updated: Value = serde_json::from_str(&stdout(&updated)).expect("json");
    assert_eq!((updated["amount"].as_str(), updated["period"].as_str()), (Some("600.00"), Some("quarter")));
    let bad = nephele(s, &["budgets", "create", "--name", "x", "--amount", "1", "--threshold", "80%:hope"]);
    assert!(!bad.status.success());
    assert!(nephele(s, &["budgets", "delete", &id]).status.success());
    assert!(!stdout(&nephele(s, &["budgets", "list"])).contains("team-web"));

    let history = nephele(s, &["-o", "json", "costs", "history", "--group-by", "region", "--step", "hour"]);
    assert!(history.status.success(), "{}", String::from_utf8_lossy(&history.stderr));
    let history: Value = serde_json::from_str(&stdout(&history)).expect("json");
    assert_eq!((history["group_by"].as_str(), history["step"].as_str()), (Some("region"), Some("hour")));
    let refused = nephele(s, &["costs", "history", "--group-by", "colour"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("group_by"), "names the field");
}
