//! `spawn()`: a fresh simulator and a client pointed at it.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dosim::{Faults, Limits, RunningSim, SimConfig, Simulator};
use nephele_core::{CreateInstances, InstanceName, OperationId, Secret};
use nephele_digitalocean::{BudgetConfig, ClientConfig, DigitalOcean};

/// Shaped like a real personal token, so a leak would be recognisable.
pub const TOKEN: &str = "dop_v1_7e3c0ffee5ecre7t0ken0000000000000000000000000000000000000000";

pub struct TestCloud {
    pub sim: RunningSim,
    pub client: DigitalOcean,
}

pub fn sim_config(droplets: usize) -> SimConfig {
    SimConfig {
        tokens: vec![TOKEN.to_owned()],
        transition: Duration::from_millis(100),
        droplets,
        limits: Limits { per_minute: 1_000_000, per_hour: 1_000_000, ..Limits::default() },
        faults: Faults::default(),
        ..SimConfig::default()
    }
}

/// Production settings, but quicker backoff so fault tests finish fast.
pub fn client_config(base_url: &str) -> ClientConfig {
    let mut config = ClientConfig::new(Secret::new(TOKEN.to_owned())).with_base_url(base_url);
    config.backoff_base = Duration::from_millis(5);
    config.backoff_cap = Duration::from_millis(100);
    config.budget = BudgetConfig { per_minute: 1_000_000, per_hour: 1_000_000, ..BudgetConfig::default() };
    config
}

pub async fn spawn_with(sim: SimConfig, configure: impl FnOnce(&mut ClientConfig)) -> TestCloud {
    let sim = Simulator::new(sim).bind(([127, 0, 0, 1], 0).into()).await.expect("bind");
    let mut config = client_config(&sim.base_url());
    configure(&mut config);
    let client = DigitalOcean::new(config).expect("client");
    TestCloud { sim, client }
}

pub async fn spawn(droplets: usize) -> TestCloud {
    spawn_with(sim_config(droplets), |_| {}).await
}

pub fn create_request(names: &[&str]) -> CreateInstances {
    CreateInstances {
        operation_id: OperationId::new(),
        names: names.iter().map(|n| InstanceName::parse(n).expect("valid name")).collect(),
        instance_type: "s-1vcpu-1gb".to_owned(),
        region: "nyc1".to_owned(),
        image: "ubuntu-24-04-x64".to_owned(),
        ssh_keys: Vec::new(),
        tags: vec!["team:web".to_owned()],
        user_data: None,
        backups: false,
        ipv6: true,
        monitoring: false,
        vpc_uuid: None,
    }
}

/// Upstream requests dosim saw for one operationId.
pub fn requests(cloud: &TestCloud, operation_id: &str) -> u64 {
    cloud.sim.stats().requests.get(operation_id).copied().unwrap_or(0)
}

/// Every log line written while `f` runs, at debug level and above.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }

    /// Installs a subscriber for the current thread; keep the guard alive while logging.
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let sink = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }
}

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A simulator behind a proxy that loses the answers [`crate::lossy::Losses`] names.
pub async fn spawn_lossy(droplets: usize) -> (TestCloud, crate::lossy::Losses) {
    let sim = Simulator::new(sim_config(droplets)).bind(([127, 0, 0, 1], 0).into()).await.expect("bind");
    let losses = crate::lossy::Losses::default();
    let proxy = crate::lossy::start(&sim.base_url(), losses.clone()).await;
    let client = DigitalOcean::new(client_config(&proxy)).expect("client");
    (TestCloud { sim, client }, losses)
}

/// A droplet of the simulator's in `region` (dosim spreads its droplets over its regions).
pub async fn droplet_in(cloud: &TestCloud, region: &str) -> nephele_core::Instance {
    use nephele_core::Provider;
    let filter = nephele_core::InstanceFilter { region: Some(region.to_owned()), ..Default::default() };
    cloud.client.list_instances(&filter).await.expect("list").into_iter().next().expect("a droplet there")
}

/// Reads the resource until `done` holds, for at most five seconds.
pub async fn wait_for(
    cloud: &TestCloud,
    kind: nephele_core::ResourceKind,
    id: &nephele_core::ResourceId,
    done: impl Fn(&nephele_core::Resource) -> bool,
) -> nephele_core::Resource {
    use nephele_core::Provider;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let resource = cloud.client.get_resource(kind, id).await.expect("get");
        if done(&resource) {
            return resource;
        }
        assert!(std::time::Instant::now() < deadline, "{kind} {id} never reached the state: {resource:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
