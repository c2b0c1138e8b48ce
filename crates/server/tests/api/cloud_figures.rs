//! Numbers from the cloud, through a tampering proxy in front of dosim: prices near
//! `Decimal::MAX`, negative or past what a decimal holds are a 502 naming the field while
//! `/api/v1/costs`, `/metrics` and estimates keep answering; a 429 asking for centuries holds
//! DigitalOcean back only for `max_retry_after_secs`, panics nothing, and the provider is served
//! again once the cloud is; a plain `http://` base URL off this machine is refused at start.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::helpers::{Extra, TestApp, json, spawn_app_on, start_sim};

const LIST: &str = "/api/v1/providers/digitalocean/instances";
const ESTIMATE: &str = "/api/v1/providers/digitalocean/cost-estimate";

/// What the proxy does to DigitalOcean's answers.
#[derive(Clone, Debug)]
enum Figures {
    Honest,
    /// Every size in `/v2/sizes` gets these figures (`price_hourly`, `price_monthly`).
    SizePrices(Vec<(&'static str, f64)>),
    /// The next droplet list is answered 429 with this `retry-after`; honest after that.
    TooManyRequestsOnce {
        retry_after: String,
    },
}

#[derive(Clone)]
struct Shared {
    upstream: String,
    http: reqwest::Client,
    figures: Arc<Mutex<Figures>>,
    droplet_lists: Arc<Mutex<usize>>,
}

/// A proxy to a simulator that tampers with the figures in its answers.
struct FigureProxy {
    base_url: String,
    shared: Shared,
}

impl FigureProxy {
    async fn start(upstream: &str, figures: Figures) -> Self {
        let shared = Shared {
            upstream: upstream.to_owned(),
            http: reqwest::Client::new(),
            figures: Arc::new(Mutex::new(figures)),
            droplet_lists: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        let app = Router::new().fallback(tamper).with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base_url, shared }
    }

    fn set(&self, figures: Figures) {
        *self.shared.figures.lock().expect("lock") = figures;
    }

    /// Droplet lists the simulator has answered through the proxy (429s not counted).
    fn droplet_lists(&self) -> usize {
        *self.shared.droplet_lists.lock().expect("lock")
    }
}

async fn tamper(State(shared): State<Shared>, request: Request) -> Response {
    let path = request.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
    let droplet_list = request.method() == "GET" && path.starts_with("/v2/droplets?");
    let figures = shared.figures.lock().expect("lock").clone();
    if droplet_list && let Figures::TooManyRequestsOnce { retry_after } = &figures {
        *shared.figures.lock().expect("lock") = Figures::Honest;
        let body = json!({"id": "too_many_requests", "message": "API rate limit exceeded."}).to_string();
        return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", retry_after.as_str())], body)
            .into_response();
    }
    let mut forward = shared.http.request(request.method().clone(), format!("{}{path}", shared.upstream));
    for name in [header::AUTHORIZATION, header::CONTENT_TYPE] {
        if let Some(value) = request.headers().get(&name) {
            forward = forward.header(name.as_str(), value.as_bytes());
        }
    }
    let body: Bytes = axum::body::to_bytes(request.into_body(), 1 << 20).await.unwrap_or_default();
    let answer = forward.body(body.to_vec()).send().await.expect("simulator answers");
    let status = StatusCode::from_u16(answer.status().as_u16()).expect("status");
    let mut bytes = answer.bytes().await.expect("body").to_vec();
    if droplet_list && status.is_success() {
        *shared.droplet_lists.lock().expect("lock") += 1;
    }
    if let Figures::SizePrices(figures) = figures
        && path.starts_with("/v2/sizes")
        && status.is_success()
    {
        let mut sizes: Value = serde_json::from_slice(&bytes).expect("sizes");
        for size in sizes["sizes"].as_array_mut().expect("sizes") {
            for (field, value) in &figures {
                size[*field] = json!(value);
            }
        }
        bytes = sizes.to_string().into_bytes();
    }
    (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// Nephele, open, behind the proxy in front of a simulator with three droplets.
async fn behind(figures: Figures, provider: &str) -> (TestApp, FigureProxy) {
    let sim = start_sim(3, Duration::from_millis(100)).await;
    let proxy = FigureProxy::start(&sim.base_url(), figures).await;
    let extra = Extra { provider, rest: "auth:\n  required: false\n", ..Extra::default() };
    let app = spawn_app_on(sim, &proxy.base_url, extra).await;
    (app, proxy)
}

fn small_estimate() -> Value {
    json!({"instance_type": "s-1vcpu-1gb", "region": "nyc1", "duration": "1mo"})
}

#[tokio::test]
async fn prices_near_decimal_max_negative_or_past_a_decimal_are_502s_and_costs_and_metrics_still_answer() {
    for (field, value) in [
        ("price_hourly", 7.9e28),
        ("price_monthly", 7.9e28),
        ("price_hourly", -10.0),
        ("price_monthly", -0.01),
        ("price_hourly", 1e300),
        ("price_hourly", 10_000.5),
    ] {
        let (app, _proxy) = behind(Figures::SizePrices(vec![(field, value)]), "").await;

        let estimate = app.post(ESTIMATE, small_estimate()).await;
        assert_eq!(estimate.status(), 502, "{field} = {value}");
        let problem = json(estimate).await;
        assert_eq!(problem["code"], "provider_bad_response", "{problem}");
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains(field)), "{field}: {problem}");

        let costs = app.get("/api/v1/costs").await;
        assert_eq!(costs.status(), 200, "{field} = {value}");
        let costs = json(costs).await;
        assert_eq!(costs["errors"][0]["code"], "provider_bad_response", "{costs}");
        assert!(!costs["run_rate"]["hourly"].as_str().unwrap_or("-").starts_with('-'), "{costs}");

        let metrics = app.get("/metrics").await;
        assert_eq!(metrics.status(), 200, "{field} = {value}");
        let text = metrics.text().await.expect("metrics");
        assert!(!text.contains("nephele_run_rate_hourly_dollars{provider=\"digitalocean\"} -"), "{text}");
    }
}

#[tokio::test]
async fn prices_within_the_ceilings_still_price_the_fleet() {
    let ceilings = vec![("price_hourly", 10_000.0), ("price_monthly", 10_000_000.0)];
    let (app, _proxy) = behind(Figures::SizePrices(ceilings), "").await;
    let estimate = json(
        app.post(ESTIMATE, json!({"instance_type": "s-1vcpu-1gb", "region": "nyc1", "duration": "1h"})).await,
    )
    .await;
    assert_eq!(estimate["total"], "10000.00", "{estimate}");
    let costs = json(app.get("/api/v1/costs").await).await;
    assert_eq!(costs["errors"], json!([]), "{costs}");
    assert_eq!(costs["run_rate"]["hourly"], "30000", "three droplets at the ceiling: {costs}");
}

/// Lists with `?fresh=true` until one is answered 200 by a live read (not from a stale copy),
/// within `within`; how long that took. Every answer before it must be an HTTP answer: a
/// dropped connection (a panic) fails at once.
async fn served_again_within(app: &TestApp, proxy: &FigureProxy, within: Duration) -> Duration {
    let started = Instant::now();
    let lists_before = proxy.droplet_lists();
    loop {
        let answer = app.http.get(app.url(&format!("{LIST}?fresh=true"))).send().await;
        let answer = answer.expect("an answer, not a dropped connection");
        let status = answer.status();
        let body = json(answer).await;
        if status == 200 && body["stale"] != true && proxy.droplet_lists() > lists_before {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "DigitalOcean was not served again within {within:?}; last {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn one_retry_after_of_centuries_holds_digitalocean_back_only_for_max_retry_after_secs() {
    for retry_after in ["10000000000", "1000000000000", "18446744073709551615"] {
        let (app, proxy) = behind(Figures::Honest, "max_retry_after_secs: 2").await;
        assert_eq!(app.get(&format!("{LIST}?fresh=true")).await.status(), 200);

        proxy.set(Figures::TooManyRequestsOnce { retry_after: retry_after.to_owned() });
        // The clamp is 2 s; anything near the old behaviour (years, or a panic) misses this.
        served_again_within(&app, &proxy, Duration::from_secs(30)).await;
        assert!(matches!(*proxy.shared.figures.lock().expect("lock"), Figures::Honest), "the 429 was sent");
        assert_eq!(app.get("/healthz").await.status(), 200, "{retry_after}");
        let metrics = app.get("/metrics").await;
        assert_eq!(metrics.status(), 200);
        assert!(
            metrics.text().await.expect("text").contains("nephele_provider_responses_429"),
            "{retry_after}"
        );
    }
}

#[tokio::test]
async fn a_retry_after_longer_than_the_deadline_answers_503_saying_when_then_serves_again() {
    // The call deadline (1 s) is shorter than the (cut) wait, so the caller hears when to come
    // back rather than waiting; after that wait DigitalOcean is asked again.
    let (app, proxy) = behind(Figures::Honest, "max_retry_after_secs: 3\ncall_deadline_secs: 1").await;
    assert_eq!(app.get(&format!("{LIST}?fresh=true")).await.status(), 200);
    proxy.set(Figures::TooManyRequestsOnce { retry_after: "10000000000".to_owned() });

    let limited = app.get(&format!("{LIST}?fresh=true")).await;
    assert_eq!(limited.status(), 503);
    let retry_after: u64 = limited
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After header");
    assert!((1..=3).contains(&retry_after), "told to wait {retry_after} s, at most the ceiling");
    served_again_within(&app, &proxy, Duration::from_secs(30)).await;
}

#[test]
fn a_plain_http_base_url_off_this_machine_is_refused_naming_the_key() {
    let yaml = |extra: &str| {
        format!(
            "providers:\n  digitalocean:\n    api_token: dop_v1_x\n    base_url: http://203.0.113.9:8080\n{extra}database:\n  url: \"sqlite::memory:\"\n"
        )
    };
    let refused =
        nephele_server::Config::parse(&yaml(""), Path::new("c.yaml"), |_| None).err().map(|e| e.to_string());
    let refused = refused.expect("refused");
    assert!(refused.contains("providers.digitalocean.base_url"), "{refused}");
    assert!(refused.contains("allow_insecure_http"), "{refused}");
    let allowed = yaml("    allow_insecure_http: true\n");
    assert!(nephele_server::Config::parse(&allowed, Path::new("c.yaml"), |_| None).is_ok());
    let loopback = yaml("").replace("203.0.113.9", "127.0.0.1");
    assert!(nephele_server::Config::parse(&loopback, Path::new("c.yaml"), |_| None).is_ok());
}
