//! Providers that hang or panic. A hung provider costs a reader the read budget, then the reader
//! gets the last good copy marked stale (or the failure, with no copy), and the fetch goes on for
//! the readers after; a refresh or a refresher that panics is tried again; a request that panics
//! is a 500 problem document and leaves nothing behind that a clean stop would wait for.
//!
//! The hang is a proxy at the process boundary that stops passing the simulator's answers on; the
//! panics come from a provider at the trait boundary (the simulator's client, panicking on cue).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use nephele_core::{
    ActionId, BillingPolicy, CreateInstances, Image, Instance, InstanceFilter, InstanceId, InstanceType,
    OperationId, PowerAction, Provider, ProviderAction, ProviderError, ProviderInfo, Region,
};
use nephele_engine::providers::ProviderRegistry;
use nephele_server::{App, Config};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::helpers::{DO_TOKEN, Extra, TestApp, json, spawn_app_on, start_sim};

const LIST: &str = "/api/v1/providers/digitalocean/instances";

/// A TCP proxy in front of the simulator that can stop answering: while it hangs, requests still
/// reach the simulator but nothing it sends back is passed on, as from a cloud (or a plugin) that
/// has stopped responding. Released, it passes on what it held.
pub struct HangingProxy {
    pub url: String,
    flowing: watch::Sender<bool>,
}

impl HangingProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let (flowing, watching) = watch::channel(true);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else { continue };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pipe(client_read, server_write, None));
                tokio::spawn(pipe(server_read, client_write, Some(watching.clone())));
            }
        });
        Self { url, flowing }
    }

    pub fn hang(&self) {
        self.flowing.send_replace(false);
    }

    pub fn release(&self) {
        self.flowing.send_replace(true);
    }
}

/// Copies `from` to `to`, holding each piece while `flowing` says no.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut flowing: Option<watch::Receiver<bool>>,
) {
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        if let Some(flowing) = flowing.as_mut()
            && flowing.wait_for(|flowing| *flowing).await.is_err()
        {
            break;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// A client that gives up after 20 s: a read that waits for the hung provider fails the test
/// instead of hanging it.
fn patient_client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("client")
}

/// Nephele, open, with three droplets behind a hanging proxy, a provider client that would wait
/// minutes for an answer (as DigitalOcean's defaults allow), and `inventory` settings.
async fn behind_hanging_proxy(inventory: &str) -> (TestApp, HangingProxy) {
    let sim = start_sim(3, Duration::from_millis(100)).await;
    let proxy = HangingProxy::start(sim.addr()).await;
    let rest = format!("auth:\n  required: false\ninventory:\n{inventory}");
    let extra = Extra {
        provider: "request_timeout_secs: 300\ncall_deadline_secs: 600",
        rest: &rest,
        ..Extra::default()
    };
    let app = spawn_app_on(sim, &proxy.url, extra).await;
    (app, proxy)
}

/// Waits (up to 10 s) for a list that is not stale and holds `count` instances.
async fn wait_for_fresh_list(app: &TestApp, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = json(app.get(LIST).await).await;
        if body["stale"] == false && body["instances"].as_array().is_some_and(|l| l.len() == count) {
            return;
        }
        assert!(Instant::now() < deadline, "the list never came fresh with {count} instances: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One series of `/metrics` for the provider `digitalocean`.
fn metric(text: &str, name: &str) -> Option<f64> {
    let prefix = format!("{name}{{provider=\"digitalocean\"}} ");
    text.lines().find_map(|line| line.strip_prefix(&prefix)).and_then(|value| value.trim().parse().ok())
}

#[tokio::test]
async fn a_hung_provider_is_answered_from_its_last_good_copy_within_the_budget() {
    let (app, proxy) = behind_hanging_proxy("  max_age_secs: 2\n  read_budget_ms: 1000\n").await;
    wait_for_fresh_list(&app, 3).await;
    assert_eq!(app.get("/api/v1/costs").await.status(), 200, "prices loaded while it answered");

    proxy.hang();
    // Past max_age: the refresh that is due now hangs.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let client = patient_client();
    for path in ["/api/v1/instances", LIST, "/api/v1/costs"] {
        let started = Instant::now();
        let response = client.get(app.url(path)).send().await.expect("answered before the client gave up");
        let took = started.elapsed();
        assert_eq!(response.status(), 200, "{path}");
        let body: Value = response.json().await.expect("json");
        assert!(took < Duration::from_secs(5), "{path} took {took:?} with a read budget of 1 s");
        let errors = body["errors"].as_array().expect("errors");
        assert!(
            errors.iter().any(|e| e["code"] == "provider_timed_out" && e["provider"] == "digitalocean"),
            "{path} says why: {body}"
        );
        if path == "/api/v1/costs" {
            assert_eq!(body["instances"], 3, "priced from the last good copy: {body}");
        } else {
            assert_eq!(body["stale"], true, "{path}: {body}");
            assert_eq!(body["instances"].as_array().expect("list").len(), 3, "{path}: the last good copy");
        }
    }
    proxy.release();
    wait_for_fresh_list(&app, 3).await;
}

#[tokio::test]
async fn a_hung_provider_without_a_copy_is_503_after_the_budget() {
    let sim = start_sim(3, Duration::from_millis(100)).await;
    let proxy = HangingProxy::start(sim.addr()).await;
    proxy.hang();
    let extra = Extra {
        provider: "request_timeout_secs: 300\ncall_deadline_secs: 600",
        rest: "auth:\n  required: false\ninventory:\n  read_budget_ms: 1000\n",
        ..Extra::default()
    };
    let app = spawn_app_on(sim, &proxy.url, extra).await;
    let client = patient_client();

    let started = Instant::now();
    let list = client.get(app.url(LIST)).send().await.expect("answered before the client gave up");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!(list.status(), 503);
    assert!(list.headers().contains_key("retry-after"), "{:?}", list.headers());
    assert_eq!(json(list).await["code"], "provider_unavailable");

    let started = Instant::now();
    let fleet = client.get(app.url("/api/v1/instances")).send().await.expect("answered");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!(fleet.status(), 200, "a fleet read reports the provider and goes on");
    let body = json(fleet).await;
    assert_eq!(body["instances"], json!([]));
    assert_eq!(body["errors"][0]["code"], "provider_timed_out", "{body}");
    proxy.release();
}

/// A live read that gives up on a hung provider leaves its fetch running: once the provider
/// answers, the copy has what that fetch brought, without a second one.
#[tokio::test]
async fn a_read_that_gives_up_leaves_the_fetch_running_for_those_after_it() {
    let (app, proxy) = behind_hanging_proxy("  max_age_secs: 3600\n  read_budget_ms: 1000\n").await;
    wait_for_fresh_list(&app, 3).await;
    // A fourth droplet, made behind Nephele's back.
    let made = app
        .http
        .post(format!("{}/v2/droplets", app.sim.base_url()))
        .bearer_auth(DO_TOKEN)
        .json(&json!({"name": "behind-its-back", "region": "nyc1", "size": "s-1vcpu-1gb", "image": "ubuntu-24-04-x64"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(made.status(), 202);

    proxy.hang();
    let started = Instant::now();
    let live = patient_client().get(app.url(&format!("{LIST}?fresh=true"))).send().await.expect("answered");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!(live.status(), 503, "a live read is the provider's answer, which did not come");
    let lists = app.upstream("droplets_list");

    proxy.release();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // `/metrics` peeks at the copy without asking the provider.
        let text = app.get("/metrics").await.text().await.expect("text");
        if metric(&text, "nephele_inventory_instances") == Some(4.0) {
            break;
        }
        assert!(Instant::now() < deadline, "the fetch the reader left never brought its answer");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.upstream("droplets_list"), lists, "no second fetch: the first one brought it");
    let list = json(app.get(LIST).await).await;
    assert_eq!(list["instances"].as_array().expect("list").len(), 4);
    assert_eq!(list["stale"], false);
}

/// The simulator's DigitalOcean client, made to panic on cue, as a provider with a bug would.
struct Panicking {
    inner: Arc<dyn Provider>,
    lists: AtomicU64,
    /// The list call (1 for the first) that panics; 0 for none.
    panic_on_list: u64,
    rate_limit_reads: AtomicU64,
    /// The `rate_limit_per_minute` call that panics; 0 for none.
    panic_on_rate_limit_read: u64,
    panic_on_get: AtomicBool,
}

impl Panicking {
    fn lists(&self) -> u64 {
        self.lists.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Provider for Panicking {
    fn info(&self) -> ProviderInfo {
        self.inner.info()
    }
    async fn ping(&self) -> Result<(), ProviderError> {
        self.inner.ping().await
    }
    fn rate_limit_per_minute(&self) -> Option<u32> {
        let read = self.rate_limit_reads.fetch_add(1, Ordering::SeqCst) + 1;
        assert_ne!(read, self.panic_on_rate_limit_read, "rate_limit_per_minute panics on cue");
        self.inner.rate_limit_per_minute()
    }
    fn counters(&self) -> std::collections::BTreeMap<&'static str, u64> {
        self.inner.counters()
    }
    async fn billing_policy(
        &self,
        t: &InstanceType,
        at: OffsetDateTime,
    ) -> Result<BillingPolicy, ProviderError> {
        self.inner.billing_policy(t, at).await
    }
    async fn list_instances(&self, filter: &InstanceFilter) -> Result<Vec<Instance>, ProviderError> {
        let call = self.lists.fetch_add(1, Ordering::SeqCst) + 1;
        assert_ne!(call, self.panic_on_list, "list_instances panics on cue");
        self.inner.list_instances(filter).await
    }
    async fn get_instance(&self, id: &InstanceId) -> Result<Instance, ProviderError> {
        assert!(!self.panic_on_get.load(Ordering::SeqCst), "get_instance panics on cue");
        self.inner.get_instance(id).await
    }
    async fn create_instances(&self, request: &CreateInstances) -> Result<Vec<Instance>, ProviderError> {
        self.inner.create_instances(request).await
    }
    async fn find_instances_by_operation(&self, id: OperationId) -> Result<Vec<Instance>, ProviderError> {
        self.inner.find_instances_by_operation(id).await
    }
    async fn delete_instance(&self, id: &InstanceId, operation: OperationId) -> Result<(), ProviderError> {
        self.inner.delete_instance(id, operation).await
    }
    async fn power_action(
        &self,
        id: &InstanceId,
        action: PowerAction,
        operation: OperationId,
    ) -> Result<ProviderAction, ProviderError> {
        self.inner.power_action(id, action, operation).await
    }
    async fn find_power_action(
        &self,
        id: &InstanceId,
        action: PowerAction,
        since: OffsetDateTime,
    ) -> Result<Option<ProviderAction>, ProviderError> {
        self.inner.find_power_action(id, action, since).await
    }
    async fn get_action(&self, id: &ActionId) -> Result<ProviderAction, ProviderError> {
        self.inner.get_action(id).await
    }
    async fn list_regions(&self) -> Result<Vec<Region>, ProviderError> {
        self.inner.list_regions().await
    }
    async fn list_instance_types(&self) -> Result<Vec<InstanceType>, ProviderError> {
        self.inner.list_instance_types().await
    }
    async fn list_images(&self) -> Result<Vec<Image>, ProviderError> {
        self.inner.list_images().await
    }
}

/// A server whose only provider is `provider(the simulator's client)`, open, with `inventory`
/// settings; stopped cleanly when the returned sender fires.
struct PanickyApp {
    base: String,
    provider: Arc<Panicking>,
    stop: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
    _sim: dosim::RunningSim,
    _data: tempfile::TempDir,
}

async fn panicky_app(inventory: &str, panicking: impl FnOnce(Arc<dyn Provider>) -> Panicking) -> PanickyApp {
    let sim = start_sim(3, Duration::from_millis(100)).await;
    let data = tempfile::tempdir().expect("temp dir");
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:0\nproviders:\n  digitalocean:\n    api_token: {DO_TOKEN}\n    region: nyc1\n    base_url: {}\n    rate_limit_per_minute: 100000\n    rate_limit_per_hour: 1000000\ndatabase:\n  url: sqlite://{}/nephele.db\nauth:\n  required: false\ninventory:\n{inventory}",
        sim.base_url(),
        data.path().display(),
    );
    let config = Config::parse(&yaml, Path::new("test.yaml"), |_| None).expect("config");
    let built = nephele_engine::providers::build(&config).await.expect("providers");
    let provider = Arc::new(panicking(built.get("digitalocean").expect("digitalocean")));
    let registry = ProviderRegistry::new(vec![provider.clone() as Arc<dyn Provider>]);
    let app = App::with_providers(config, registry).await.expect("build app");
    let base = format!("http://{}", app.addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    PanickyApp { base, provider, stop, served, _sim: sim, _data: data }
}

fn never_panics(inner: Arc<dyn Provider>) -> Panicking {
    Panicking {
        inner,
        lists: AtomicU64::new(0),
        panic_on_list: 0,
        rate_limit_reads: AtomicU64::new(0),
        panic_on_rate_limit_read: 0,
        panic_on_get: AtomicBool::new(false),
    }
}

/// Waits (up to 15 s) until the provider has been listed `calls` times, with no reads from
/// anyone: only the background refresher lists it.
async fn wait_for_lists(provider: &Panicking, calls: u64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while provider.lists() < calls {
        assert!(Instant::now() < deadline, "listed {} times; the refresher stopped", provider.lists());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_refresh_that_panics_is_tried_again() {
    let app =
        panicky_app("  max_age_secs: 1\n", |inner| Panicking { panic_on_list: 2, ..never_panics(inner) })
            .await;
    // The first load, the refresh that panics, and more after it.
    wait_for_lists(&app.provider, 4).await;
    let text =
        reqwest::get(format!("{}/metrics", app.base)).await.expect("metrics").text().await.expect("text");
    assert_eq!(metric(&text, "nephele_inventory_failed_refreshes_total"), Some(1.0), "counted");
    let list: Value =
        reqwest::get(format!("{}{LIST}", app.base)).await.expect("list").json().await.expect("json");
    assert_eq!(list["stale"], false, "{list}");
}

#[tokio::test]
async fn a_refresher_that_dies_is_started_again() {
    // The refresher reads the rate limit once a round; the third time, it panics outside any
    // provider call, and the refresher with it.
    let app = panicky_app("  max_age_secs: 1\n", |inner| Panicking {
        panic_on_rate_limit_read: 3,
        ..never_panics(inner)
    })
    .await;
    wait_for_lists(&app.provider, 5).await;
    let text =
        reqwest::get(format!("{}/metrics", app.base)).await.expect("metrics").text().await.expect("text");
    assert_eq!(metric(&text, "nephele_inventory_refresher_restarts_total"), Some(1.0), "counted");
}

#[tokio::test]
async fn a_request_that_panics_is_a_500_problem_and_a_clean_stop_is_prompt() {
    let app = panicky_app("  max_age_secs: 60\n", never_panics).await;
    let client = reqwest::Client::new();
    let listed: Value =
        client.get(format!("{}{LIST}", app.base)).send().await.expect("list").json().await.expect("json");
    let id = listed["instances"][0]["id"].as_str().expect("an instance").to_owned();

    app.provider.panic_on_get.store(true, Ordering::SeqCst);
    let answer = client.get(format!("{}{LIST}/{id}", app.base)).send().await.expect("answered, not dropped");
    assert_eq!(answer.status(), 500);
    assert_eq!(answer.headers()["content-type"], "application/problem+json");
    let request_id = answer.headers()["x-request-id"].to_str().expect("ascii").to_owned();
    let problem = answer.text().await.expect("body");
    assert!(!problem.contains("on cue"), "the panic's text stays out of the answer: {problem}");
    let problem: Value = serde_json::from_str(&problem).expect("json");
    assert_eq!(problem["code"], "internal_error");
    assert_eq!(problem["request_id"], request_id.as_str());
    app.provider.panic_on_get.store(false, Ordering::SeqCst);
    assert_eq!(client.get(format!("{}{LIST}/{id}", app.base)).send().await.expect("sent").status(), 200);

    // Nothing is left in the connection list for a clean stop to wait for (its grace is 10 s).
    let started = Instant::now();
    app.stop.send(()).expect("still serving");
    let served = tokio::time::timeout(Duration::from_secs(30), app.served).await.expect("stopped");
    served.expect("joined").expect("served");
    assert!(started.elapsed() < Duration::from_secs(5), "the stop took {:?}", started.elapsed());
}
