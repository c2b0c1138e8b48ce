//! Health endpoints and the provider list.

use crate::helpers::{json, spawn_app};

#[tokio::test]
async fn health_endpoints_answer() {
    let app = spawn_app().await;
    let health = json(app.get("/health").await).await;
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["providers"], serde_json::json!(["digitalocean"]));
    assert_eq!(json(app.get("/healthz").await).await["status"], "ok");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let ready = json(ready).await;
    assert_eq!(ready["providers"]["digitalocean"], "ok");
    assert_eq!(ready["providers"]["database"], "ok");
}

#[tokio::test]
async fn metrics_show_the_provider_clients_counters() {
    let app = spawn_app().await;
    // The inventory's first load (droplets and every resource kind) starts with the server; a
    // list waits for it to land.
    app.get("/api/v1/providers/digitalocean/instances").await;
    app.get("/api/v1/providers/digitalocean/regions").await;
    let text = app.get("/metrics").await.text().await.expect("text");
    assert!(text.contains("# TYPE nephele_provider_rate_limit_waits counter"), "{text}");
    let sent =
        format!("nephele_provider_requests_sent_total{{provider=\"digitalocean\"}} {}", app.upstream_total());
    assert!(
        app.upstream("regions_list") == 1 && text.contains(&sent),
        "every request DigitalOcean saw is counted: {sent}\n{text}"
    );
}

/// `/metrics` parses as Prometheus text and moves as requests are made.
fn scrape(text: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text")
}

fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            prometheus_parse::Value::Summary(_) => f64::NAN,
        })
}

#[tokio::test]
async fn metrics_parse_and_move_with_requests() {
    let app = crate::helpers::spawn_app_with(7, std::time::Duration::from_millis(100)).await;
    let list = [("route", "/api/v1/providers/:provider/instances"), ("method", "GET"), ("status", "200")];
    app.get("/api/v1/providers/digitalocean/instances").await;
    let before = scrape(&app.get("/metrics").await.text().await.expect("text"));
    let counted = sample(&before, "nephele_http_requests_total", &list).expect("the list is counted");
    for _ in 0..3 {
        app.get("/api/v1/providers/digitalocean/instances").await;
    }
    app.get("/api/v1/providers/digitalocean/instances/12345678").await;
    let after = scrape(&app.get("/metrics").await.text().await.expect("text"));
    assert_eq!(sample(&after, "nephele_http_requests_total", &list), Some(counted + 3.0));
    let one = [("route", "/api/v1/providers/:provider/instances/:id"), ("status", "404")];
    assert_eq!(sample(&after, "nephele_http_requests_total", &one), Some(1.0), "by template, not by id");
    // Made-up methods share one series: a caller cannot add series at will.
    for method in ["BREW", "WHEN"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        app.http.request(method, app.url("/api/v1/providers")).send().await.expect("sent");
    }
    let odd = scrape(&app.get("/metrics").await.text().await.expect("text"));
    let others: Vec<_> = odd
        .samples
        .iter()
        .filter(|s| s.metric == "nephele_http_requests_total")
        .filter(|s| s.labels.get("method") == Some("other"))
        .collect();
    assert_eq!(others.len(), 1, "{others:?}");
    let timed = [("route", "/api/v1/providers/:provider/instances"), ("method", "GET")];
    assert_eq!(sample(&after, "nephele_http_request_duration_seconds", &timed), Some(counted + 3.0));
    assert_eq!(sample(&after, "nephele_inventory_instances", &[("provider", "digitalocean")]), Some(7.0));
    assert!(sample(&after, "nephele_inventory_age_seconds", &[("provider", "digitalocean")]).is_some());

    let created = app
        .post(
            "/api/v1/providers/digitalocean/instances",
            serde_json::json!({"name": "m-1", "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64"}),
        )
        .await;
    let operation = json(created).await["operation_id"].as_str().expect("operation").to_owned();
    app.wait_for_operation(&operation, None).await;
    let done = scrape(&app.get("/metrics").await.text().await.expect("text"));
    let create = [("provider", "digitalocean"), ("kind", "create"), ("state", "succeeded")];
    assert_eq!(sample(&done, "nephele_operations", &create), Some(1.0));

    // Upstream calls by operation and outcome, timed; the 404 above is one of them.
    let do_ = ("provider", "digitalocean");
    let created_ok = [do_, ("operation", "create_instances"), ("outcome", "ok")];
    assert_eq!(sample(&done, "nephele_upstream_calls_total", &created_ok), Some(1.0));
    let missing = [do_, ("operation", "get_instance"), ("outcome", "not_found")];
    assert_eq!(sample(&done, "nephele_upstream_calls_total", &missing), Some(1.0));
    let timed = [do_, ("operation", "create_instances")];
    assert_eq!(sample(&done, "nephele_upstream_call_duration_seconds", &timed), Some(1.0));
    // Lists served from memory count as hits; the budget left shrinks as requests go out.
    let hits = sample(&done, "nephele_inventory_hits_total", &[do_]).expect("hits");
    assert!(hits >= 3.0, "{hits}");
    assert!(sample(&done, "nephele_inventory_misses_total", &[do_]).expect("misses") >= 1.0);
    let left = sample(&done, "nephele_provider_rate_budget_remaining_minute", &[do_]).expect("budget");
    let sent = sample(&done, "nephele_provider_requests_sent_total", &[do_]).expect("sent");
    // The run-rate is what /api/v1/costs says, per provider.
    let costs = json(app.get("/api/v1/costs").await).await;
    app.get("/api/v1/providers/digitalocean/instances?fresh=true").await;
    let again = scrape(&app.get("/metrics").await.text().await.expect("text"));
    let left_now = sample(&again, "nephele_provider_rate_budget_remaining_minute", &[do_]).expect("budget");
    let sent_now = sample(&again, "nephele_provider_requests_sent_total", &[do_]).expect("sent");
    assert!(sent_now > sent, "the live read went out");
    assert_eq!(left - left_now, sent_now - sent, "each request sent takes one from the minute's budget");
    let rate = sample(&again, "nephele_run_rate_hourly_dollars", &[do_]).expect("run-rate");
    let expected: f64 = costs["run_rate"]["hourly"].as_str().expect("hourly").parse().expect("number");
    assert!((rate - expected).abs() < 1e-9 && rate > 0.0, "{rate} vs {expected}");
}

#[tokio::test]
async fn providers_are_listed_with_reachability_and_capabilities() {
    let app = spawn_app().await;
    let list = json(app.get("/api/v1/providers").await).await;
    let digitalocean = &list["providers"][0];
    assert_eq!(digitalocean["name"], "digitalocean");
    assert_eq!(digitalocean["reachable"], true);
    assert_eq!(digitalocean["default_region"], "nyc1");
    assert!(digitalocean["capabilities"].as_array().expect("list").iter().any(|c| c == "power_actions"));
    let one = json(app.get("/api/v1/providers/digitalocean").await).await;
    assert_eq!(one["display_name"], "DigitalOcean");
    assert_eq!(
        app.upstream("account_get"),
        0,
        "reachability is the last readiness check, which the inventory's first refresh answered: no ping of its own serves both answers"
    );
}

#[tokio::test]
async fn catalogue_routes_list_types_with_decimal_prices_and_images() {
    let app = spawn_app().await;
    let types = json(app.get("/api/v1/providers/digitalocean/instance-types").await).await;
    let small = types["instance_types"]
        .as_array()
        .expect("list")
        .iter()
        .find(|t| t["id"] == "s-1vcpu-1gb")
        .expect("small");
    assert_eq!(small["price_hourly"], "0.00893");
    assert_eq!(small["price_monthly"], "6");
    let images = json(app.get("/api/v1/providers/digitalocean/images").await).await;
    assert!(images["images"].as_array().expect("list").iter().any(|i| i["slug"] == "debian-12-x64"));
}
