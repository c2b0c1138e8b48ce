//! Cost estimates checked by hand: s-1vcpu-1gb is $6/month and $0.00893/hour; and the fleet's
//! figures on the engine's clock.

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

// The fleet's figures read the engine's clock (`costs.clock`), as the history does: on a clock
// set to 2026-03-02, a droplet made at 2026-03-01 00:00 has cost 24 h x 0.01786 = 0.42864.
#[tokio::test]
async fn the_fleets_run_rate_and_month_to_date_are_on_the_engines_clock() {
    let (app, state) = crate::spend::spawn_on_clocks("2026-03-01T00:00:00Z", "").await;
    crate::spend::create(&app, "a", "s-1vcpu-2gb", "nyc1", "team:web").await;
    crate::spend::move_clocks(&app, &state, "2026-03-02T00:00:00Z", 1).await;
    let costs = json(app.get("/api/v1/costs").await).await;
    assert_eq!(costs["as_of"], "2026-03-02T00:00:00Z", "{costs}");
    assert_eq!(costs["month"], "2026-03", "{costs}");
    assert_eq!(costs["month_to_date"], "0.43", "{costs}");
    assert_eq!(costs["run_rate"]["hourly"], "0.01786", "{costs}");
    // The history says the same for the same span.
    let history = json(app.get("/api/v1/costs/history?from=2026-03-01&to=2026-03-03&step=month").await).await;
    assert_eq!(history["rows"][0]["amount_exact"], "0.42864", "{history}");
    // Ten days on, the figure follows the clock, not the wall.
    crate::spend::move_clocks(&app, &state, "2026-03-12T00:00:00Z", 1).await;
    let later = json(app.get("/api/v1/costs").await).await;
    // 264 h x 0.01786 = 4.71504.
    assert_eq!(later["month_to_date"], "4.72", "{later}");
}
