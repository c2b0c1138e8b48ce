//! `/v2/projects`: projects and the resources they hold. `default` names the default project,
//! as on DigitalOcean.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{BaseUrl, Tenant, parse_required_body};
use crate::account::Account;
use crate::error::DoError;
use crate::pagination::{Page, Query, list_body};
use crate::render;
use crate::state::{ProjectFields, World};
use crate::wire::{ProjectAssignBody, ProjectBody};

/// `^do:(dbaas|domain|droplet|...):.*`, the spec's `urn` pattern.
fn check_urn(urn: &str) -> Result<(), DoError> {
    const KINDS: &[&str] =
        &["dbaas", "domain", "droplet", "floatingip", "loadbalancer", "space", "volume", "kubernetes", "vpc"];
    let valid = urn
        .strip_prefix("do:")
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(kind, _)| KINDS.contains(&kind));
    if !valid {
        return Err(DoError::unprocessable(format!("{urn:?} is not a resource URN (do:TYPE:ID).")));
    }
    Ok(())
}

fn resolve(world: &World, id: &str) -> String {
    if id == "default" { world.default_project_id() } else { id.to_owned() }
}

fn answer(account: &Account, id: &str, status: StatusCode) -> Result<Response, DoError> {
    let world = account.world();
    let project = world.projects.get(id).ok_or_else(DoError::not_found)?;
    Ok((status, Json(json!({ "project": render::project(project, &account.uuid) }))).into_response())
}

fn fields(body: ProjectBody) -> ProjectFields {
    ProjectFields {
        name: body.name,
        description: body.description,
        purpose: body.purpose,
        environment: body.environment,
        is_default: body.is_default,
    }
}

pub async fn list(
    Tenant(account): Tenant,
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> Result<Response, DoError> {
    let query = Query::parse(raw.as_deref());
    let page = Page::from_query(&query)?;
    let world = account.world();
    let total = world.projects.len();
    let items = page
        .take(world.projects.values(), total)
        .map(|p| render::project(p, &account.uuid))
        .collect::<Vec<_>>();
    Ok(Json(list_body("projects", items, page, total, &base, "/v2/projects", &query)).into_response())
}

pub async fn create(Tenant(account): Tenant, body: Bytes) -> Result<Response, DoError> {
    let request: ProjectBody = parse_required_body(&body)?;
    // `is_default` is not part of a create (the spec's `project_base`); a new project never is.
    let id = account.world().create_project(ProjectFields { is_default: None, ..fields(request) })?;
    answer(&account, &id, StatusCode::CREATED)
}

pub async fn get(Tenant(account): Tenant, Path(id): Path<String>) -> Result<Response, DoError> {
    let id = resolve(&account.world(), &id);
    answer(&account, &id, StatusCode::OK)
}

/// PUT needs every field; PATCH any of them.
fn change(account: &Account, id: &str, body: &Bytes, every_field: bool) -> Result<Response, DoError> {
    let id = resolve(&account.world(), id);
    if !account.world().projects.contains(&id) {
        return Err(DoError::not_found());
    }
    let request: ProjectBody = parse_required_body(body)?;
    let complete = request.name.is_some()
        && request.description.is_some()
        && request.purpose.is_some()
        && request.environment.is_some()
        && request.is_default.is_some();
    if every_field && !complete {
        return Err(DoError::unprocessable(
            "name, description, purpose, environment and is_default are all required.",
        ));
    }
    account.world().update_project(&id, fields(request))?;
    answer(account, &id, StatusCode::OK)
}

pub async fn update(
    Tenant(account): Tenant,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, DoError> {
    change(&account, &id, &body, true)
}

pub async fn patch(
    Tenant(account): Tenant,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, DoError> {
    change(&account, &id, &body, false)
}

pub async fn delete(Tenant(account): Tenant, Path(id): Path<String>) -> Result<Response, DoError> {
    let mut world = account.world();
    let id = resolve(&world, &id);
    world.delete_project(&id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn list_resources(
    Tenant(account): Tenant,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, DoError> {
    let query = Query::parse(raw.as_deref());
    let page = Page::from_query(&query)?;
    let world = account.world();
    let project_id = resolve(&world, &id);
    if !world.projects.contains(&project_id) {
        return Err(DoError::not_found());
    }
    let resources = world.project_resources(&project_id);
    let total = resources.len();
    let items = page
        .take(resources.into_iter(), total)
        .map(|r| render::resource(&base, &r.urn, r.assigned_at, "ok"))
        .collect::<Vec<_>>();
    let path = format!("/v2/projects/{id}/resources");
    Ok(Json(list_body("resources", items, page, total, &base, &path, &query)).into_response())
}

/// Answers with each resource asked for and how its assignment went.
pub async fn assign_resources(
    Tenant(account): Tenant,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, DoError> {
    let mut world = account.world();
    let id = resolve(&world, &id);
    if !world.projects.contains(&id) {
        return Err(DoError::not_found());
    }
    let request: ProjectAssignBody = parse_required_body(&body)?;
    let urns = request.resources.unwrap_or_default();
    for urn in &urns {
        check_urn(urn)?;
    }
    let assigned = world.assign_resources(&id, &urns)?;
    let items =
        assigned.iter().map(|a| render::resource(&base, &a.urn, a.assigned_at, a.status)).collect::<Vec<_>>();
    Ok(Json(json!({ "resources": items })).into_response())
}
