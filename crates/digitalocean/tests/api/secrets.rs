//! The API token never shows up in logs, errors or Debug output.

use dosim::Faults;
use nephele_core::{InstanceFilter, InstanceId, Provider};

use crate::helpers::{CapturedLogs, TOKEN, client_config, create_request, sim_config, spawn_with};

#[tokio::test]
async fn the_token_never_appears_in_logs_errors_or_debug_output() {
    let logs = CapturedLogs::default();
    let _guard = logs.install();
    let cloud = spawn_with(sim_config(3), |c| c.max_attempts = 3).await;
    let mut seen = Vec::new();

    seen.push(format!("{:?}", client_config("http://example.invalid")));
    cloud.sim.set_faults(Faults { error_rate: 0.5, drop_rate: 0.3, ..Faults::default() });
    for _ in 0..10 {
        match cloud.client.list_instances(&InstanceFilter::default()).await {
            Ok(list) => seen.push(format!("{list:?}")),
            Err(e) => seen.push(format!("{e} {e:?}")),
        }
    }
    cloud.sim.set_faults(Faults::default());
    for error in [
        cloud.client.get_instance(&InstanceId("424242".into())).await.expect_err("404"),
        cloud
            .client
            .create_instances(&{
                let mut r = create_request(&["x"]);
                r.region = "mars1".into();
                r
            })
            .await
            .expect_err("422"),
    ] {
        seen.push(format!("{error} {error:?}"));
        seen.push(serde_json::to_string(&error).expect("serialise"));
    }
    seen.push(logs.text());

    assert!(logs.text().contains("retrying DigitalOcean request"), "logs were captured");
    for text in seen {
        assert!(!text.contains(TOKEN), "token leaked into: {text}");
        assert!(!text.contains(&TOKEN[8..30]), "part of the token leaked into: {text}");
    }
}
