//! DigitalOcean's answers as typed errors, and bad input refused before any call.

use nephele_core::{Provider, ProviderError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{client_config, create_request, spawn};

#[tokio::test]
async fn digitaloceans_errors_keep_id_message_request_id_and_status() {
    let cloud = spawn(0).await;
    let missing =
        cloud.client.get_instance(&nephele_core::InstanceId("999999".into())).await.expect_err("404");
    let ProviderError::NotFound { detail, .. } = &missing else { panic!("{missing:?}") };
    assert_eq!(detail.status, Some(404));
    assert_eq!(detail.code.as_deref(), Some("not_found"));
    assert!(detail.request_id.as_deref().is_some_and(|r| !r.is_empty()));

    let mut bad_size = create_request(&["x"]);
    bad_size.instance_type = "s-99vcpu-1tb".into();
    let refused = cloud.client.create_instances(&bad_size).await.expect_err("422");
    let ProviderError::InvalidInput { message, detail, .. } = &refused else { panic!("{refused:?}") };
    assert_eq!(message, "You specified an invalid size for Droplet creation.");
    assert_eq!(detail.status, Some(422));
}

#[tokio::test]
async fn a_wrong_token_is_unauthorised() {
    let sim = dosim::Simulator::new(crate::helpers::sim_config(0))
        .bind(([127, 0, 0, 1], 0).into())
        .await
        .expect("bind");
    let mut config = client_config(&sim.base_url());
    config.token = nephele_core::Secret::new("dop_v1_wrong".to_owned());
    let client = nephele_digitalocean::DigitalOcean::new(config).expect("client");
    let result = client.list_regions().await;
    assert!(matches!(result, Err(ProviderError::Unauthorized { .. })), "{result:?}");
}

#[tokio::test]
async fn requests_digitalocean_would_refuse_cost_no_call() {
    let cloud = spawn(0).await;
    let eleven: Vec<String> = (0..11).map(|i| format!("n-{i}")).collect();
    let too_many = create_request(&eleven.iter().map(String::as_str).collect::<Vec<_>>());
    let mut big_user_data = create_request(&["ok"]);
    big_user_data.user_data = Some("x".repeat(64 * 1024 + 1));
    let mut bad_tag = create_request(&["ok"]);
    bad_tag.tags = vec!["has space".into()];
    for (field, request) in [("names", too_many), ("user_data", big_user_data), ("tags", bad_tag)] {
        let error = cloud.client.create_instances(&request).await.expect_err(field);
        assert!(
            matches!(&error, ProviderError::InvalidInput { field: Some(f), .. } if f == field),
            "{field}: {error:?}"
        );
    }
    assert!(cloud.sim.stats().requests.is_empty(), "no upstream request: {:?}", cloud.sim.stats().requests);
}

/// A server that answers 200 with a body cut short, as a broken proxy might.
async fn truncating_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = socket.read(&mut buf).await;
                let body = r#"{"droplet": {"id": 12, "name": "#;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_malformed_body_is_an_error_not_a_panic() {
    let base = truncating_server().await;
    let mut config = client_config(&base);
    config.max_attempts = 2;
    let client = nephele_digitalocean::DigitalOcean::new(config).expect("client");
    let result = client.get_instance(&nephele_core::InstanceId("12".into())).await;
    let Err(ProviderError::InvalidResponse { message, .. }) = result else { panic!("{result:?}") };
    assert!(message.contains("could not read"), "{message}");
}

#[tokio::test]
async fn calls_share_a_small_answer_budget_without_blocking_each_other_for_good() {
    let cloud = crate::helpers::spawn_with(crate::helpers::sim_config(30), |config| {
        config.max_response_bytes = 64 * 1024;
        config.max_in_flight_response_bytes = 64 * 1024;
    })
    .await;
    let ids: Vec<_> = cloud
        .client
        .list_instances(&Default::default())
        .await
        .expect("list")
        .into_iter()
        .map(|i| i.id)
        .collect();
    let gets = futures_util::future::join_all(ids.iter().map(|id| cloud.client.get_instance(id))).await;
    assert!(gets.iter().all(Result::is_ok), "{:?}", gets.iter().find(|g| g.is_err()));
}
