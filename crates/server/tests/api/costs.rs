//! Cost estimates checked by hand: s-1vcpu-1gb is $6/month and $0.00893/hour.

use serde_json::{Value, json};

use crate::helpers::{json, spawn_app};

async fn estimate(body: Value) -> Value {
    let app = spawn_app().await;
    let response = app.post("/api/v1/providers/digitalocean/cost-estimate", body).await;
    assert_eq!(response.status(), 200);
    json(response).await
}

fn small(duration: &str, start: &str) -> Value {
    json!({"instance_type": "s-1vcpu-1gb", "region": "nyc1", "duration": duration, "start": start})
}

#[tokio::test]
async fn thirty_seconds_is_the_minimum_charge() {
    let e = estimate(small("30s", "2026-03-10T12:00:00Z")).await;
    assert_eq!(e["total"], "0.01");
    assert_eq!(e["billed_seconds"], 60);
    assert_eq!(e["breakdown"][0]["minimum_applied"], true);
}

#[tokio::test]
async fn one_hour_is_raised_to_the_minimum_charge() {
    // $0.00893 for the hour is under the $0.01 minimum.
    let e = estimate(small("1h", "2026-03-10T12:00:00Z")).await;
    assert_eq!(e["total"], "0.01");
    assert_eq!(e["price_hourly"], "0.00893");
}

#[tokio::test]
async fn one_day_is_24_hours_of_the_hourly_price() {
    let e = estimate(small("1d", "2026-03-10T12:00:00Z")).await;
    assert_eq!(e["total_exact"], "0.21432");
    assert_eq!(e["total"], "0.21");
    assert_eq!(e["cost"].as_f64(), Some(0.21));
}

#[tokio::test]
async fn a_full_calendar_month_is_the_monthly_price() {
    let e = estimate(small("1mo", "2026-03-01T00:00:00Z")).await;
    assert_eq!(e["total"], "6.00");
    assert_eq!(e["end"], "2026-04-01T00:00:00Z");
    assert_eq!(e["breakdown"][0]["capped"], true);
    assert!(
        e["assumptions"]
            .as_array()
            .expect("list")
            .iter()
            .any(|a| a.as_str().is_some_and(|s| s.contains("capped")))
    );
}

#[tokio::test]
async fn forty_five_days_from_mid_month_walks_the_calendar() {
    let e = estimate(small("45d", "2026-01-15T00:00:00Z")).await;
    assert_eq!(e["breakdown"][0]["month"], "2026-01");
    assert_eq!(e["breakdown"][0]["compute"], "3.64344");
    assert_eq!(e["breakdown"][1]["month"], "2026-02");
    assert_eq!(e["breakdown"][1]["compute"], "6");
    assert_eq!(e["total"], "9.64");
}

#[tokio::test]
async fn weekly_backups_add_twenty_percent_and_count_multiplies() {
    let mut body = small("45d", "2026-01-15T00:00:00Z");
    body["backups"] = json!("weekly");
    body["count"] = json!(3);
    let e = estimate(body).await;
    // 9.64344 * 1.2 * 3 = 34.715... -> 34.72
    assert_eq!(e["total_exact"], "34.716384");
    assert_eq!(e["total"], "34.72");
    assert_eq!(e["backups"], "weekly");
}

#[tokio::test]
async fn iso_durations_are_accepted() {
    let e = estimate(small("P1DT12H", "2026-03-10T00:00:00Z")).await;
    // 36 h * 0.00893 = 0.32148
    assert_eq!(e["total_exact"], "0.32148");
    assert_eq!(e["duration_iso"], "P1DT12H");
}
