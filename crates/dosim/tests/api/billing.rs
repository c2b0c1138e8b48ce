//! What an account is billed (balance, billing history, invoices, items, summaries), worked out
//! from its resources' lifetimes on a clock the test moves, against figures computed by hand to
//! the cent. The arithmetic is in the comments; the rules are in the README's dosim section.
//!
//! Prices: s-1vcpu-512mb-10gb $4/month = 0.00595/h, s-1vcpu-1gb $6 = 0.00893/h, s-1vcpu-2gb $12
//! = 0.01786/h, s-2vcpu-4gb $24 = 0.03571/h (monthly / 672, five places); volumes $0.10 and
//! snapshots $0.06 per GiB-month and an unassigned reserved IP $5.00 a month, each on a 730-hour
//! month (2,628,000 s).

use std::collections::BTreeSet;
use std::time::Duration;

use dosim::{AccountSpec, SimConfig};
use serde_json::{Value, json};
use time::macros::datetime;

use crate::helpers::{TestSim, config, json, spawn_sim};

const BETA: &str = "beta-token";
const HOUR: u64 = 3_600;
const DAY: u64 = 86_400;

/// The simulated time, as seconds since 2026-03-01T00:00:00Z, moved only forward.
struct Clock<'a> {
    app: &'a TestSim,
    at: u64,
}

impl Clock<'_> {
    async fn to(&mut self, since_start: u64) {
        self.app.advance(since_start - self.at).await;
        self.at = since_start;
    }
}

/// Creates a droplet in nyc1 and waits (in real time) until it is active.
async fn droplet(app: &TestSim, name: &str, size: &str, extra: Value) -> u64 {
    let mut body = json!({"name": name, "size": size, "region": "nyc1", "image": "ubuntu-24-04-x64"});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let response = app.post("/v2/droplets", body).await;
    assert_eq!(response.status(), 202, "create {name}");
    let id = json(response).await["droplet"]["id"].as_u64().expect("id");
    app.wait_until(&format!("/v2/droplets/{id}"), "active", |b| b["droplet"]["status"] == "active").await;
    id
}

/// Runs a droplet action and waits (in real time) until the droplet is free again.
async fn act(app: &TestSim, id: u64, action: Value) {
    let response = app.post(&format!("/v2/droplets/{id}/actions"), action.clone()).await;
    assert_eq!(response.status(), 201, "{action}");
    app.wait_until(&format!("/v2/droplets/{id}"), "unlocked", |b| b["droplet"]["locked"] == false).await;
}

fn items(body: &Value) -> Vec<Value> {
    body["invoice_items"].as_array().expect("invoice_items").clone()
}

/// `(product, description, amount, duration, unit)` of each item, in any order.
fn lines(items: &[Value]) -> BTreeSet<(String, String, String, String, String)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    items
        .iter()
        .map(|i| {
            (
                text(&i["product"]),
                text(&i["description"]),
                text(&i["amount"]),
                text(&i["duration"]),
                text(&i["duration_unit"]),
            )
        })
        .collect()
}

fn line(
    product: &str,
    description: &str,
    amount: &str,
    duration: u64,
    unit: &str,
) -> (String, String, String, String, String) {
    (product.into(), description.into(), amount.into(), duration.to_string(), unit.into())
}

/// A March 2026 of creates, deletes, power-offs and resizes in the default account (whose
/// `account_balance` is $12.23), and one droplet in another account.
#[tokio::test]
async fn a_month_of_changes_is_billed_to_the_cent_and_its_invoice_closes_on_the_first() {
    let app = spawn_sim(SimConfig {
        clock: Some(datetime!(2026-03-01 00:00 UTC)),
        transition: Duration::from_millis(20),
        accounts: vec![AccountSpec { name: "beta".into(), tokens: vec![BETA.into()], droplets: 0 }],
        account_balances: [("default".to_owned(), "12.23".parse().expect("decimal"))].into(),
        ..config()
    })
    .await;
    let mut clock = Clock { app: &app, at: 0 };

    // 1 March 00:00: web-a with weekly backups, an address reserved for nothing, and beta's own.
    let a =
        droplet(&app, "web-a", "s-1vcpu-1gb", json!({"backups": true, "backup_policy": {"plan": "weekly"}}))
            .await;
    let ip = json(app.post("/v2/reserved_ips", json!({"region": "nyc1"})).await).await["reserved_ip"]["ip"]
        .as_str()
        .expect("ip")
        .to_owned();
    let beta =
        json!({"name": "beta-1", "size": "s-1vcpu-1gb", "region": "nyc1", "image": "ubuntu-24-04-x64"});
    assert_eq!(app.post_as(BETA, "/v2/droplets", beta).await.status(), 202);
    // 01:00: a droplet that lives 30 seconds.
    clock.to(HOUR).await;
    let brief = app.create_droplet("brief", &[]).await["droplet"]["id"].as_u64().expect("id");
    clock.to(HOUR + 30).await;
    assert_eq!(app.delete(&format!("/v2/droplets/{brief}")).await.status(), 204);
    // Day 1: web-c at $12; day 5: off, resized to $24, on; day 10: deleted.
    clock.to(DAY).await;
    let c = droplet(&app, "web-c", "s-1vcpu-2gb", json!({})).await;
    // Day 2: a 100 GiB volume on web-a; day 3: its snapshot; day 12: grown to 200 GiB.
    clock.to(2 * DAY).await;
    let volume = app.volume("data", 100, "nyc1").await;
    assert_eq!(app.volume_action(&volume, json!({"type": "attach", "droplet_id": a})).await.status(), 202);
    clock.to(3 * DAY).await;
    let snapshot = app.post(&format!("/v2/volumes/{volume}/snapshots"), json!({"name": "data-snap"})).await;
    assert_eq!(snapshot.status(), 201);
    clock.to(5 * DAY).await;
    act(&app, c, json!({"type": "power_off"})).await;
    act(&app, c, json!({"type": "resize", "size": "s-2vcpu-4gb"})).await;
    act(&app, c, json!({"type": "power_on"})).await;
    clock.to(10 * DAY).await;
    assert_eq!(app.delete(&format!("/v2/droplets/{c}")).await.status(), 204);
    clock.to(12 * DAY).await;
    let grow = json!({"type": "resize", "size_gigabytes": 200, "region": "nyc1"});
    assert_eq!(app.volume_action(&volume, grow).await.status(), 202);
    // Day 15: the address goes to web-a (free from then on).
    clock.to(15 * DAY).await;
    let assign = json!({"type": "assign", "droplet_id": a});
    assert_eq!(app.post(&format!("/v2/reserved_ips/{ip}/actions"), assign).await.status(), 201);
    // Day 20: the volume is detached and deleted; web-d ($4) made, off from day 21, deleted day 25.
    clock.to(20 * DAY).await;
    assert_eq!(app.volume_action(&volume, json!({"type": "detach", "droplet_id": a})).await.status(), 202);
    assert_eq!(app.delete(&format!("/v2/volumes/{volume}")).await.status(), 204);
    let d = droplet(&app, "web-d", "s-1vcpu-512mb-10gb", json!({})).await;
    clock.to(21 * DAY).await;
    act(&app, d, json!({"type": "power_off"})).await;
    clock.to(25 * DAY).await;
    assert_eq!(app.delete(&format!("/v2/droplets/{d}")).await.status(), 204);

    // 26 March 00:00, month to date:
    //   web-a  600 h × 0.00893 = 5.358, weekly backups 20 % = 1.0716
    //   brief  30 s = 0.0000744..., raised to the minimum 0.01
    //   web-c  96 h × 0.01786 = 1.71456 + 120 h × 0.03571 = 4.2852
    //   data   10 × 864,000 / 2,628,000 = 3.2876712... + 20 × 691,200 / 2,628,000 = 5.2602739...
    //   snap   6 × 1,900,800 / 2,628,000 = 4.3397260... (22 days of 100 GiB)
    //   ip     5 × 1,296,000 / 2,628,000 = 2.4657534... (15 days unassigned)
    //   web-d  120 h × 0.00595 = 0.714 (96 of them powered off, billed all the same)
    //   total  28.5067846... -> 28.51; with the balance of 12.23, 40.74.
    let balance = json(app.get("/v2/customers/my/balance").await).await;
    assert_eq!(
        balance,
        json!({"month_to_date_usage": "28.51", "account_balance": "12.23", "month_to_date_balance": "40.74",
               "generated_at": "2026-03-26T00:00:00Z"})
    );
    let list = json(app.get("/v2/customers/my/invoices").await).await;
    assert_eq!(list["invoices"], json!([]), "no month has closed yet");
    assert_eq!(list["meta"]["total"], 0);
    let preview = list["invoice_preview"].clone();
    assert_eq!(
        (preview["amount"].clone(), preview["invoice_period"].clone(), preview["updated_at"].clone()),
        (json!("28.51"), json!("2026-03"), json!("2026-03-26T00:00:00Z")),
        "the preview is the month to date"
    );
    let preview_summary = json(app.get("/v2/customers/my/invoices/preview/summary").await).await;
    assert_eq!(preview_summary["amount"], "28.51");
    assert_eq!(preview_summary["invoice_uuid"], preview["invoice_uuid"]);

    // 10 April: March is closed and invoiced (on 1 April), with all of its month:
    //   web-a  744 h × 0.00893 = 6.64392, capped at the monthly 6.00; backups 1.20
    //   snap   6 × 2,419,200 / 2,628,000 = 5.5232876... (28 days)
    //   total  6 + 1.2 + 0.01 + 1.71456 + 4.2852 + 3.2876712 + 5.2602739 + 5.5232876
    //          + 2.4657534 + 0.714 = 30.4607463... -> 30.46
    assert_eq!(app.set_clock("2026-04-10T00:00:00Z").await.status(), 200);
    let list = json(app.get("/v2/customers/my/invoices").await).await;
    assert_eq!(list["meta"]["total"], 1);
    let march = list["invoices"][0].clone();
    assert_eq!(
        march,
        json!({"invoice_uuid": preview["invoice_uuid"], "invoice_id": preview["invoice_id"], "amount": "30.46",
               "invoice_period": "2026-03"}),
        "the preview's uuid is the invoice's; only the preview has updated_at"
    );
    let uuid = march["invoice_uuid"].as_str().expect("uuid").to_owned();
    let invoice = json(app.get(&format!("/v2/customers/my/invoices/{uuid}?per_page=200")).await).await;
    assert_eq!(invoice["meta"]["total"], 10);
    let march_items = items(&invoice);
    let unassigned = format!("{ip} (unassigned)");
    assert_eq!(
        lines(&march_items),
        BTreeSet::from([
            line("Droplets", "web-a (s-1vcpu-1gb)", "6.00", 31 * DAY, "Seconds"),
            line("Backups", "web-a (s-1vcpu-1gb)", "1.20", 31 * DAY, "Seconds"),
            line("Droplets", "brief (s-1vcpu-1gb)", "0.01", 30, "Seconds"),
            line("Droplets", "web-c (s-1vcpu-2gb)", "1.71", 4 * DAY, "Seconds"),
            line("Droplets", "web-c (s-2vcpu-4gb)", "4.29", 5 * DAY, "Seconds"),
            line("Volumes", "data (100 GiB)", "3.29", 10 * DAY, "Seconds"),
            line("Volumes", "data (200 GiB)", "5.26", 8 * DAY, "Seconds"),
            line("Snapshots", "data-snap (100.00 GiB)", "5.52", 28 * DAY, "Seconds"),
            line("Reserved IPs", &unassigned, "2.47", 15 * DAY, "Seconds"),
            line("Droplets", "web-d (s-1vcpu-512mb-10gb)", "0.71", 5 * DAY, "Seconds"),
        ])
    );
    let web_a = march_items.iter().find(|i| i["description"] == "web-a (s-1vcpu-1gb)").expect("web-a");
    assert_eq!(
        (web_a["start_time"].clone(), web_a["end_time"].clone(), web_a["resource_id"].clone()),
        (json!("2026-03-01T00:00:00Z"), json!("2026-04-01T00:00:00Z"), json!(a.to_string()))
    );
    let web_c = march_items.iter().find(|i| i["description"] == "web-c (s-2vcpu-4gb)").expect("web-c");
    assert_eq!(
        (web_c["start_time"].clone(), web_c["end_time"].clone()),
        (json!("2026-03-06T00:00:00Z"), json!("2026-03-11T00:00:00Z")),
        "the larger size is billed from the resize to the delete"
    );
    for item in &march_items {
        let expected = if item["product"] == "Snapshots" { json!(null) } else { json!("Default") };
        assert_eq!(item["project_name"], expected, "{item}");
    }

    let summary = json(app.get(&format!("/v2/customers/my/invoices/{uuid}/summary")).await).await;
    assert_eq!(summary["amount"], "30.46");
    assert_eq!(summary["billing_period"], "2026-03");
    assert_eq!(
        summary["product_charges"],
        json!({"name": "Product usage charges", "amount": "30.46", "items": [
            // 6 + 0.01 + 5.99976 + 0.714 = 12.72376; 3.2876712 + 5.2602739 = 8.5479452
            {"amount": "12.72", "name": "Droplets", "count": "5"},
            {"amount": "1.20", "name": "Backups", "count": "1"},
            {"amount": "8.55", "name": "Volumes", "count": "2"},
            {"amount": "5.52", "name": "Snapshots", "count": "1"},
            {"amount": "2.47", "name": "Reserved IPs", "count": "1"},
        ]})
    );
    assert_eq!(
        (summary["taxes"]["amount"].clone(), summary["overages"]["amount"].clone()),
        (json!("0.00"), json!("0.00"))
    );
    assert_eq!(summary["credits_and_adjustments"]["amount"], "0.00");

    let history = json(app.get("/v2/customers/my/billing_history").await).await;
    assert_eq!(
        history["billing_history"],
        json!([
            {"description": "Invoice for March 2026", "amount": "30.46", "invoice_id": march["invoice_id"],
             "invoice_uuid": uuid, "date": "2026-04-01T00:00:00Z", "type": "Invoice"},
            {"description": "Payment (card on file)", "amount": "-30.46", "date": "2026-04-01T00:00:00Z",
             "type": "Payment"},
        ])
    );

    // April to the 10th (216 h): web-a 1.92888 + backups 0.385776, the snapshot 6 × 777,600 /
    // 2,628,000 = 1.7753424...; the address is assigned, so free. 4.0899984... -> 4.09, though
    // the items shown round to 1.93 + 0.39 + 1.78 = 4.10: each amount is rounded on its own.
    let balance = json(app.get("/v2/customers/my/balance").await).await;
    assert_eq!(
        (balance["month_to_date_usage"].clone(), balance["month_to_date_balance"].clone()),
        (json!("4.09"), json!("16.32"))
    );
    assert_eq!(list["invoice_preview"]["amount"], "4.09");
    let april = json(app.get("/v2/customers/my/invoices/preview").await).await;
    assert_eq!(
        lines(&items(&april)),
        BTreeSet::from([
            line("Droplets", "web-a (s-1vcpu-1gb)", "1.93", 9 * DAY, "Seconds"),
            line("Backups", "web-a (s-1vcpu-1gb)", "0.39", 9 * DAY, "Seconds"),
            line("Snapshots", "data-snap (100.00 GiB)", "1.78", 9 * DAY, "Seconds"),
        ])
    );

    // Beta sees its own droplet alone: all of March capped at 6.00, April 216 h = 1.92888.
    let beta_balance = json(app.get_as(BETA, "/v2/customers/my/balance").await).await;
    assert_eq!(
        (beta_balance["month_to_date_usage"].clone(), beta_balance["account_balance"].clone()),
        (json!("1.93"), json!("0.00"))
    );
    let beta_list = json(app.get_as(BETA, "/v2/customers/my/invoices").await).await;
    assert_eq!(beta_list["invoices"][0]["amount"], "6.00");
    assert_ne!(beta_list["invoices"][0]["invoice_uuid"], json!(uuid));
    assert_eq!(app.get_as(BETA, &format!("/v2/customers/my/invoices/{uuid}")).await.status(), 404);
    assert_eq!(app.get_as(BETA, &format!("/v2/customers/my/invoices/{uuid}/summary")).await.status(), 404);
}

#[tokio::test]
async fn a_droplet_across_new_year_2026_is_billed_per_started_hour_then_per_second_and_capped() {
    let app = spawn_sim(SimConfig { clock: Some(datetime!(2025-12-31 23:30 UTC)), ..config() }).await;
    app.create_droplet("old-timer", &[]).await;
    assert_eq!(app.set_clock("2026-03-05T00:00:00Z").await.status(), 200);

    // December: 30 minutes, one started hour = 0.00893. January: 744 h per second = 6.64392,
    // capped at 6.00. February: 672 h = 6.00096, capped at 6.00. March to the 5th: 96 h = 0.85728.
    let first = json(app.get("/v2/customers/my/invoices?per_page=2").await).await;
    let shown = |list: &Value| {
        list["invoices"]
            .as_array()
            .expect("invoices")
            .iter()
            .map(|i| (i["invoice_period"].clone(), i["amount"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(shown(&first), vec![(json!("2026-02"), json!("6.00")), (json!("2026-01"), json!("6.00"))]);
    assert_eq!(first["meta"]["total"], 3);
    assert_eq!(first["invoice_preview"]["amount"], "0.86");
    let next = first["links"]["pages"]["next"].as_str().expect("a next page").to_owned();
    let second =
        json(app.http.get(next).bearer_auth(crate::helpers::TOKEN).send().await.expect("sent")).await;
    assert_eq!(shown(&second), vec![(json!("2025-12"), json!("0.01"))]);

    let december = second["invoices"][0]["invoice_uuid"].as_str().expect("uuid").to_owned();
    let items = items(&json(app.get(&format!("/v2/customers/my/invoices/{december}")).await).await);
    assert_eq!(
        lines(&items),
        BTreeSet::from([line("Droplets", "old-timer (s-1vcpu-1gb)", "0.01", 1, "Hours")])
    );
    let history = json(app.get("/v2/customers/my/billing_history").await).await;
    let entries = history["billing_history"].as_array().expect("history");
    assert_eq!(entries.len(), 6, "three invoices, each paid");
    assert_eq!(
        (entries[0]["description"].clone(), entries[0]["date"].clone(), entries[1]["amount"].clone()),
        (json!("Invoice for December 2025"), json!("2026-01-01T00:00:00Z"), json!("-0.01"))
    );
}

#[tokio::test]
async fn billing_needs_a_token_pages_its_lists_and_knows_only_its_own_invoices() {
    let app = spawn_sim(SimConfig { clock: Some(datetime!(2026-03-01 00:00 UTC)), ..config() }).await;
    for path in ["/v2/customers/my/balance", "/v2/customers/my/invoices", "/v2/customers/my/invoices/preview"]
    {
        let anonymous = app.http.get(app.url(path)).send().await.expect("sent");
        assert_eq!(anonymous.status(), 401, "{path}");
    }
    let unknown = app.get("/v2/customers/my/invoices/22737513-0ea7-4206-8ceb-98a575af7681").await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(json(unknown).await["id"], "not_found");
    assert_eq!(app.get("/v2/customers/my/invoices/nothing/summary").await.status(), 404);
    assert_eq!(app.get("/v2/customers/my/invoices?per_page=201").await.status(), 400);
    assert_eq!(app.get("/v2/customers/my/invoices/preview?page=0").await.status(), 400);

    // A new account owes nothing: a droplet made at this very second already costs its minimum.
    let empty = json(app.get("/v2/customers/my/balance").await).await;
    assert_eq!(empty["month_to_date_usage"], "0.00");
    app.create_droplet("just-made", &[]).await;
    let made = json(app.get("/v2/customers/my/balance").await).await;
    assert_eq!(made["month_to_date_usage"], "0.01");
    let history = json(app.get("/v2/customers/my/billing_history").await).await;
    assert_eq!(history, json!({"billing_history": [], "links": {"pages": {}}, "meta": {"total": 0}}));
}

#[tokio::test]
async fn backups_are_billed_for_the_time_they_are_on_at_their_plans_rate() {
    let app = spawn_sim(SimConfig {
        clock: Some(datetime!(2026-03-01 00:00 UTC)),
        transition: Duration::from_millis(20),
        ..config()
    })
    .await;
    let mut clock = Clock { app: &app, at: 0 };
    let web = droplet(&app, "web", "s-1vcpu-1gb", json!({})).await;
    let refused = app
        .post(
            &format!("/v2/droplets/{web}/actions"),
            json!({"type": "change_backup_policy",
        "backup_policy": {"plan": "weekly"}}),
        )
        .await;
    assert_eq!(refused.status(), 422, "no policy to change while backups are off");
    clock.to(2 * DAY).await;
    act(&app, web, json!({"type": "enable_backups"})).await;
    clock.to(4 * DAY).await;
    let unknown = app
        .post(
            &format!("/v2/droplets/{web}/actions"),
            json!({"type": "change_backup_policy",
        "backup_policy": {"plan": "hourly"}}),
        )
        .await;
    assert_eq!(unknown.status(), 422);
    act(&app, web, json!({"type": "change_backup_policy", "backup_policy": {"plan": "weekly"}})).await;
    clock.to(6 * DAY).await;
    act(&app, web, json!({"type": "disable_backups"})).await;
    clock.to(10 * DAY).await;

    // 240 h × 0.00893 = 2.1432. Backups: 2 days daily (30 %) and 2 days weekly (20 %) of 10:
    // 2.1432 × (0.3 × 2 + 0.2 × 2) / 10 = 0.21432.
    let preview = items(&json(app.get("/v2/customers/my/invoices/preview").await).await);
    assert_eq!(
        lines(&preview),
        BTreeSet::from([
            line("Droplets", "web (s-1vcpu-1gb)", "2.14", 10 * DAY, "Seconds"),
            line("Backups", "web (s-1vcpu-1gb)", "0.21", 4 * DAY, "Seconds"),
        ])
    );
    let backups = preview.iter().find(|i| i["product"] == "Backups").expect("backups");
    assert_eq!(
        (backups["start_time"].clone(), backups["end_time"].clone()),
        (json!("2026-03-03T00:00:00Z"), json!("2026-03-07T00:00:00Z"))
    );
}
