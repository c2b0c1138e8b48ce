//! Projects and which resources each holds.
//!
//! Every account has a default project that takes each new droplet, volume and reserved IP
//! unless it is assigned elsewhere. So only assignments away from the default are stored (by
//! URN), and a resource without one is in whichever project is the default; when another
//! project becomes the default, what the old one held is written down first, so nothing moves.
//! A project with resources, and the default project, cannot be deleted (412).

use std::collections::HashSet;

use time::OffsetDateTime;

use super::World;
use super::table::Keyed;
use crate::error::DoError;

/// The purposes DigitalOcean knows; any other is stored as `Other: ...`.
const PURPOSES: &[&str] = &[
    "Just trying out DigitalOcean",
    "Class project / Educational purposes",
    "Website or blog",
    "Web Application",
    "Service or API",
    "Mobile Application",
    "Machine learning / AI / Data processing",
    "IoT",
    "Operational / Developer tooling",
];

const ENVIRONMENTS: &[&str] = &["Development", "Staging", "Production"];

#[derive(Debug, Clone)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub description: String,
    pub purpose: String,
    pub environment: Option<String>,
    pub is_default: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Keyed for Project {
    fn key(&self) -> &str {
        &self.id
    }
}

/// A project's fields as a create, PUT or PATCH gives them; `None` leaves a field as it is.
#[derive(Default)]
pub struct ProjectFields {
    pub name: Option<String>,
    pub description: Option<String>,
    pub purpose: Option<String>,
    pub environment: Option<String>,
    pub is_default: Option<bool>,
}

/// A resource in a project: its URN and when it got there.
pub struct ProjectResource {
    pub urn: String,
    pub assigned_at: OffsetDateTime,
}

/// How assigning one resource went, in the spec's `resource.status` words.
pub struct Assigned {
    pub urn: String,
    pub assigned_at: OffsetDateTime,
    /// `assigned`, `already_assigned` or `not_found`.
    pub status: &'static str,
}

fn check_fields(fields: &ProjectFields) -> Result<(), DoError> {
    if let Some(name) = &fields.name
        && (name.trim().is_empty() || name.chars().count() > 175)
    {
        return Err(DoError::unprocessable("name must be 1 to 175 characters."));
    }
    for (field, value) in [("description", &fields.description), ("purpose", &fields.purpose)] {
        if value.as_ref().is_some_and(|v| v.chars().count() > 255) {
            return Err(DoError::unprocessable(format!("{field} is limited to 255 characters.")));
        }
    }
    if let Some(environment) = &fields.environment
        && !ENVIRONMENTS.contains(&environment.as_str())
    {
        return Err(DoError::unprocessable("environment must be Development, Staging or Production."));
    }
    Ok(())
}

fn stored_purpose(purpose: String) -> String {
    if PURPOSES.contains(&purpose.as_str()) || purpose.starts_with("Other: ") {
        purpose
    } else {
        format!("Other: {purpose}")
    }
}

impl World {
    pub(super) fn add_default_project(&mut self, created_at: OffsetDateTime) {
        let project = Project {
            id: uuid::Uuid::new_v4().to_string(),
            name: "Default".to_owned(),
            description: "Default project".to_owned(),
            purpose: PURPOSES[0].to_owned(),
            environment: Some("Development".to_owned()),
            is_default: true,
            created_at,
            updated_at: created_at,
        };
        self.projects.insert(self.ids.sequence(), project);
    }

    pub fn default_project_id(&self) -> String {
        self.projects.values().find(|p| p.is_default).map(|p| p.id.clone()).unwrap_or_default()
    }

    /// The project a resource is in.
    pub fn project_of(&self, urn: &str) -> String {
        self.assignments
            .get(urn)
            .map(|(project, _)| project.clone())
            .unwrap_or_else(|| self.default_project_id())
    }

    /// The name of the project a resource is in (what invoices show as `project_name`).
    pub fn project_name_of(&self, urn: &str) -> String {
        let id = self.project_of(urn);
        self.projects.get(&id).map(|p| p.name.clone()).unwrap_or_default()
    }

    pub(super) fn assign_to_project(&mut self, urn: &str, project_id: &str) {
        if project_id == self.default_project_id() {
            self.assignments.remove(urn);
        } else {
            self.assignments.insert(urn.to_owned(), (project_id.to_owned(), self.clock.now()));
        }
    }

    fn check_project_name_free(&self, name: &str, except: Option<&str>) -> Result<(), DoError> {
        if self.projects.values().any(|p| p.name == name && Some(p.id.as_str()) != except) {
            return Err(DoError::conflict("A project with this name already exists."));
        }
        Ok(())
    }

    pub fn create_project(&mut self, fields: ProjectFields) -> Result<String, DoError> {
        check_fields(&fields)?;
        let name = fields.name.ok_or_else(|| DoError::unprocessable("name is required."))?;
        let purpose = fields.purpose.ok_or_else(|| DoError::unprocessable("purpose is required."))?;
        self.check_project_name_free(&name, None)?;
        let now = self.clock.now();
        let id = uuid::Uuid::new_v4().to_string();
        let project = Project {
            id: id.clone(),
            name,
            description: fields.description.unwrap_or_default(),
            purpose: stored_purpose(purpose),
            environment: fields.environment,
            is_default: false,
            created_at: now,
            updated_at: now,
        };
        self.projects.insert(self.ids.sequence(), project);
        Ok(id)
    }

    pub fn update_project(&mut self, id: &str, fields: ProjectFields) -> Result<(), DoError> {
        let project = self.projects.get(id).ok_or_else(DoError::not_found)?;
        check_fields(&fields)?;
        if let Some(name) = &fields.name {
            self.check_project_name_free(name, Some(id))?;
        }
        match fields.is_default {
            Some(false) if project.is_default => {
                return Err(DoError::unprocessable(
                    "The default project cannot be unset; make another project the default instead.",
                ));
            }
            Some(true) if !project.is_default => self.move_default_to(id),
            _ => {}
        }
        let project = self.projects.get_mut(id).ok_or_else(DoError::not_found)?;
        if let Some(name) = fields.name {
            project.name = name;
        }
        if let Some(description) = fields.description {
            project.description = description;
        }
        if let Some(purpose) = fields.purpose {
            project.purpose = stored_purpose(purpose);
        }
        if let Some(environment) = fields.environment {
            project.environment = Some(environment);
        }
        project.updated_at = self.clock.now();
        Ok(())
    }

    /// Makes `id` the default project; what the old default held stays there.
    fn move_default_to(&mut self, id: &str) {
        let old = self.default_project_id();
        for resource in self.project_resources(&old) {
            self.assignments.insert(resource.urn, (old.clone(), resource.assigned_at));
        }
        for project in self.projects.values_mut() {
            project.is_default = project.id == id;
        }
        self.assignments.retain(|_, (project, _)| project != id);
    }

    pub fn delete_project(&mut self, id: &str) -> Result<(), DoError> {
        let project = self.projects.get(id).ok_or_else(DoError::not_found)?;
        if project.is_default {
            return Err(DoError::precondition_failed("The default project cannot be deleted."));
        }
        if self.assignments.values().any(|(project, _)| project == id) {
            return Err(DoError::precondition_failed(
                "cannot delete a project with resources. move or remove the resources first",
            ));
        }
        self.projects.remove(id);
        Ok(())
    }

    /// Every resource a project holds: droplets, volumes and reserved IPs, oldest first.
    pub fn project_resources(&self, id: &str) -> Vec<ProjectResource> {
        let is_default = id == self.default_project_id();
        let droplets = self.droplets.values().map(|d| (format!("do:droplet:{}", d.id), d.created_at));
        let volumes = self.volumes.values().map(|v| (format!("do:volume:{}", v.id), v.created_at));
        let ips =
            self.reserved_ips.values().map(|ip| (format!("do:floatingip:{}", ip.address), ip.created_at));
        droplets
            .chain(volumes)
            .chain(ips)
            .filter_map(|(urn, created_at)| match self.assignments.get(&urn) {
                Some((project, at)) if project == id => Some(ProjectResource { urn, assigned_at: *at }),
                None if is_default => Some(ProjectResource { urn, assigned_at: created_at }),
                _ => None,
            })
            .collect()
    }

    /// Whether a URN names a resource of this account that projects can hold.
    fn resource_exists(&self, urn: &str) -> bool {
        let Some(rest) = urn.strip_prefix("do:") else { return false };
        match rest.split_once(':') {
            Some(("droplet", id)) => id.parse::<u64>().is_ok_and(|id| self.droplets.contains_key(&id)),
            Some(("volume", id)) => self.volumes.contains(id),
            Some(("floatingip", address)) => self.reserved_ips.contains(address),
            _ => false,
        }
    }

    /// Moves resources into a project; unknown ones come back `not_found`.
    pub fn assign_resources(&mut self, id: &str, urns: &[String]) -> Result<Vec<Assigned>, DoError> {
        if !self.projects.contains(id) {
            return Err(DoError::not_found());
        }
        let now = self.clock.now();
        let mut seen: HashSet<&str> = HashSet::new();
        let mut outcome = Vec::with_capacity(urns.len());
        for urn in urns {
            let status = if !self.resource_exists(urn) {
                "not_found"
            } else if self.project_of(urn) == id || seen.contains(urn.as_str()) {
                "already_assigned"
            } else {
                self.assign_to_project(urn, id);
                "assigned"
            };
            seen.insert(urn);
            outcome.push(Assigned { urn: urn.clone(), assigned_at: now, status });
        }
        Ok(outcome)
    }
}
