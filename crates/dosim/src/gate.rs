//! What happens to every `/v2` request before and after its handler: counting it under its
//! operationId, bearer auth (which also says whose account the request is about: the handler
//! finds it in the request's extensions), the rate limits and their headers, and fault injection.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::DoError;
use crate::faults::happens;
use crate::rate_limit::{RateHeaders, Verdict, headers_for_unknown};
use crate::sim::Sim;

/// Marks a response whose connection must be closed instead of answered.
#[derive(Clone, Copy, Debug)]
pub struct DropConnection;

/// The spec's operationId for a routed request (every operation of `openapi-resources.yaml`).
pub fn operation_id(method: &Method, path: &str) -> &'static str {
    let method = if method == Method::HEAD { &Method::GET } else { method };
    match (method.as_str(), path) {
        ("GET", "/v2/droplets") => "droplets_list",
        ("POST", "/v2/droplets") => "droplets_create",
        ("DELETE", "/v2/droplets") => "droplets_destroy_byTag",
        ("GET", "/v2/droplets/{droplet_id}") => "droplets_get",
        ("DELETE", "/v2/droplets/{droplet_id}") => "droplets_destroy",
        ("GET", "/v2/droplets/{droplet_id}/actions") => "dropletActions_list",
        ("POST", "/v2/droplets/{droplet_id}/actions") => "dropletActions_post",
        ("GET", "/v2/droplets/{droplet_id}/actions/{action_id}") => "dropletActions_get",
        ("GET", "/v2/actions/{action_id}") => "actions_get",
        ("GET", "/v2/regions") => "regions_list",
        ("GET", "/v2/sizes") => "sizes_list",
        ("GET", "/v2/images") => "images_list",
        ("POST", "/v2/images") => "images_create_custom",
        ("GET", "/v2/images/{image_id}") => "images_get",
        ("PUT", "/v2/images/{image_id}") => "images_update",
        ("DELETE", "/v2/images/{image_id}") => "images_delete",
        ("GET", "/v2/account") => "account_get",
        ("GET", "/v2/account/keys") => "sshKeys_list",
        ("POST", "/v2/account/keys") => "sshKeys_create",
        ("GET", "/v2/account/keys/{ssh_key_identifier}") => "sshKeys_get",
        ("PUT", "/v2/account/keys/{ssh_key_identifier}") => "sshKeys_update",
        ("DELETE", "/v2/account/keys/{ssh_key_identifier}") => "sshKeys_delete",
        ("GET", "/v2/volumes") => "volumes_list",
        ("POST", "/v2/volumes") => "volumes_create",
        ("DELETE", "/v2/volumes") => "volumes_delete_byName",
        ("POST", "/v2/volumes/actions") => "volumeActions_post",
        ("GET", "/v2/volumes/{volume_id}") => "volumes_get",
        ("DELETE", "/v2/volumes/{volume_id}") => "volumes_delete",
        ("GET", "/v2/volumes/{volume_id}/actions") => "volumeActions_list",
        ("POST", "/v2/volumes/{volume_id}/actions") => "volumeActions_post_byId",
        ("GET", "/v2/volumes/{volume_id}/actions/{action_id}") => "volumeActions_get",
        ("GET", "/v2/volumes/{volume_id}/snapshots") => "volumeSnapshots_list",
        ("POST", "/v2/volumes/{volume_id}/snapshots") => "volumeSnapshots_create",
        ("GET", "/v2/volumes/snapshots/{snapshot_id}") => "volumeSnapshots_get_byId",
        ("DELETE", "/v2/volumes/snapshots/{snapshot_id}") => "volumeSnapshots_delete_byId",
        ("GET", "/v2/snapshots") => "snapshots_list",
        ("GET", "/v2/snapshots/{snapshot_id}") => "snapshots_get",
        ("DELETE", "/v2/snapshots/{snapshot_id}") => "snapshots_delete",
        ("GET", "/v2/droplets/{droplet_id}/snapshots") => "droplets_list_snapshots",
        ("GET", "/v2/droplets/{droplet_id}/backups") => "droplets_list_backups",
        ("GET", "/v2/droplets/{droplet_id}/destroy_with_associated_resources") => {
            "droplets_list_associatedResources"
        }
        ("DELETE", "/v2/droplets/{droplet_id}/destroy_with_associated_resources/selective") => {
            "droplets_destroy_withAssociatedResourcesSelective"
        }
        ("DELETE", "/v2/droplets/{droplet_id}/destroy_with_associated_resources/dangerous") => {
            "droplets_destroy_withAssociatedResourcesDangerous"
        }
        ("GET", "/v2/droplets/{droplet_id}/destroy_with_associated_resources/status") => {
            "droplets_get_DestroyAssociatedResourcesStatus"
        }
        ("POST", "/v2/droplets/{droplet_id}/destroy_with_associated_resources/retry") => {
            "droplets_destroy_retryWithAssociatedResources"
        }
        ("GET", "/v2/firewalls") => "firewalls_list",
        ("POST", "/v2/firewalls") => "firewalls_create",
        ("GET", "/v2/firewalls/{firewall_id}") => "firewalls_get",
        ("PUT", "/v2/firewalls/{firewall_id}") => "firewalls_update",
        ("DELETE", "/v2/firewalls/{firewall_id}") => "firewalls_delete",
        ("POST", "/v2/firewalls/{firewall_id}/droplets") => "firewalls_assign_droplets",
        ("DELETE", "/v2/firewalls/{firewall_id}/droplets") => "firewalls_delete_droplets",
        ("POST", "/v2/firewalls/{firewall_id}/tags") => "firewalls_add_tags",
        ("DELETE", "/v2/firewalls/{firewall_id}/tags") => "firewalls_delete_tags",
        ("POST", "/v2/firewalls/{firewall_id}/rules") => "firewalls_add_rules",
        ("DELETE", "/v2/firewalls/{firewall_id}/rules") => "firewalls_delete_rules",
        ("GET", "/v2/reserved_ips") => "reservedIPs_list",
        ("POST", "/v2/reserved_ips") => "reservedIPs_create",
        ("GET", "/v2/reserved_ips/{reserved_ip}") => "reservedIPs_get",
        ("DELETE", "/v2/reserved_ips/{reserved_ip}") => "reservedIPs_delete",
        ("GET", "/v2/reserved_ips/{reserved_ip}/actions") => "reservedIPsActions_list",
        ("POST", "/v2/reserved_ips/{reserved_ip}/actions") => "reservedIPsActions_post",
        ("GET", "/v2/reserved_ips/{reserved_ip}/actions/{action_id}") => "reservedIPsActions_get",
        ("GET", "/v2/vpcs") => "vpcs_list",
        ("POST", "/v2/vpcs") => "vpcs_create",
        ("GET", "/v2/vpcs/{vpc_id}") => "vpcs_get",
        ("PUT", "/v2/vpcs/{vpc_id}") => "vpcs_update",
        ("PATCH", "/v2/vpcs/{vpc_id}") => "vpcs_patch",
        ("DELETE", "/v2/vpcs/{vpc_id}") => "vpcs_delete",
        ("GET", "/v2/vpcs/{vpc_id}/members") => "vpcs_list_members",
        ("GET", "/v2/projects") => "projects_list",
        ("POST", "/v2/projects") => "projects_create",
        ("GET", "/v2/projects/{project_id}") => "projects_get",
        ("PUT", "/v2/projects/{project_id}") => "projects_update",
        ("PATCH", "/v2/projects/{project_id}") => "projects_patch",
        ("DELETE", "/v2/projects/{project_id}") => "projects_delete",
        ("GET", "/v2/projects/{project_id}/resources") => "projects_list_resources",
        ("POST", "/v2/projects/{project_id}/resources") => "projects_assign_resources",
        ("GET", "/v2/tags") => "tags_list",
        ("POST", "/v2/tags") => "tags_create",
        ("GET", "/v2/tags/{tag_id}") => "tags_get",
        ("DELETE", "/v2/tags/{tag_id}") => "tags_delete",
        ("POST", "/v2/tags/{tag_id}/resources") => "tags_assign_resources",
        ("DELETE", "/v2/tags/{tag_id}/resources") => "tags_unassign_resources",
        ("GET", "/v2/customers/my/balance") => "balance_get",
        ("GET", "/v2/customers/my/billing_history") => "billingHistory_list",
        ("GET", "/v2/customers/my/invoices") => "invoices_list",
        ("GET", "/v2/customers/my/invoices/{invoice_uuid}") => "invoices_get_byUUID",
        ("GET", "/v2/customers/my/invoices/{invoice_uuid}/summary") => "invoices_get_summaryByUUID",
        _ => "unknown",
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

fn with_rate_headers(mut response: Response, headers: RateHeaders) -> Response {
    let h = response.headers_mut();
    h.insert("ratelimit-limit", HeaderValue::from(headers.limit));
    h.insert("ratelimit-remaining", HeaderValue::from(headers.remaining));
    h.insert("ratelimit-reset", HeaderValue::from(headers.reset));
    response
}

/// The middleware in front of every DigitalOcean route.
pub async fn gate(State(sim): State<Arc<Sim>>, mut request: Request, next: Next) -> Response {
    let path = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let operation = operation_id(request.method(), &path);
    *sim.stats().requests.entry(operation).or_default() += 1;
    let _in_flight = sim.enter();

    let faults = sim.faults();
    let mut delay = Duration::from_millis(faults.latency_ms);
    if happens(faults.slow_rate) {
        delay += Duration::from_millis(faults.slow_ms);
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }

    let known = bearer_token(request.headers())
        .and_then(|token| sim.account_for(token).map(|account| (token.to_owned(), account.clone())));
    let Some((token, account)) = known else {
        return with_rate_headers(DoError::unauthorized().into_response(), headers_for_unknown(sim.limits()));
    };
    account.count_request();

    let verdict = account.limiter().check(&token, operation == "sshKeys_list", Instant::now());
    let headers = match verdict {
        Verdict::Allowed(headers) => headers,
        Verdict::Refused { headers, retry_after } => {
            sim.stats().rate_limited += 1;
            account.count_rate_limited();
            return with_rate_headers(DoError::too_many_requests(retry_after).into_response(), headers);
        }
    };

    if happens(faults.rate_limit_rate) {
        sim.stats().rate_limited += 1;
        account.count_rate_limited();
        return with_rate_headers(DoError::too_many_requests(Some(1)).into_response(), headers);
    }
    if happens(faults.error_rate) {
        sim.stats().injected_errors += 1;
        let status =
            [StatusCode::INTERNAL_SERVER_ERROR, StatusCode::BAD_GATEWAY, StatusCode::SERVICE_UNAVAILABLE]
                [fastrand::usize(0..3)];
        return with_rate_headers(DoError::server_side(status).into_response(), headers);
    }

    request.extensions_mut().insert(account);
    let mut response = next.run(request).await;
    if happens(faults.drop_rate) {
        sim.stats().dropped_connections += 1;
        response.extensions_mut().insert(DropConnection);
    }
    with_rate_headers(response, headers)
}
