//! Resources beyond instances as protocol `Document`s: the JSON form of `nephele-core`'s types,
//! written by one side and read, checked, by the other.
//!
//! A document is refused past [`limits::MAX_DOCUMENT_BYTES`] before it is parsed, and a resource
//! read from one is checked field by field as an instance is (ids, names, tags and their count),
//! so a plugin's answer costs the host a bounded amount of memory whatever it sends.

use nephele_core::pricing::ResourcePrice;
use nephele_core::{Resource, ResourceId};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::convert::Malformed;
use crate::{limits, wire};

/// `value` as a document.
pub fn document<T: Serialize>(value: &T) -> wire::Document {
    // Core's types hold strings, numbers and lists only: writing them cannot fail.
    wire::Document { json: serde_json::to_vec(value).unwrap_or_default() }
}

/// A document read as a `T`, within its size bound.
pub fn read<T: DeserializeOwned>(
    document: Option<wire::Document>,
    field: &'static str,
) -> Result<T, Malformed> {
    let Some(document) = document else {
        return Err(Malformed { field, message: "is missing".to_owned() });
    };
    if document.json.len() > limits::MAX_DOCUMENT_BYTES {
        return Err(Malformed {
            field,
            message: format!("is {} bytes long; at most {}", document.json.len(), limits::MAX_DOCUMENT_BYTES),
        });
    }
    serde_json::from_slice(&document.json).map_err(|e| Malformed { field, message: e.to_string() })
}

/// A resource read from a document, with its fields checked against the protocol's bounds.
pub fn read_resource(document: Option<wire::Document>) -> Result<Resource, Malformed> {
    let resource: Resource = read(document, "resource")?;
    check_resource(&resource)?;
    Ok(resource)
}

/// Resource documents read as resources (a list bounded by the caller).
pub fn read_resources(documents: Vec<wire::Document>) -> Result<Vec<Resource>, Malformed> {
    documents.into_iter().map(|d| read_resource(Some(d))).collect()
}

/// A price list read from documents.
pub fn read_prices(documents: Vec<wire::Document>) -> Result<Vec<ResourcePrice>, Malformed> {
    if documents.len() > limits::MAX_DOCUMENTS {
        return Err(Malformed {
            field: "documents",
            message: format!("holds {} prices; at most {}", documents.len(), limits::MAX_DOCUMENTS),
        });
    }
    documents.into_iter().map(|d| read(Some(d), "price")).collect()
}

fn check_resource(resource: &Resource) -> Result<(), Malformed> {
    ResourceId::parse(&resource.id().0).map_err(|message| Malformed { field: "resource.id", message })?;
    let name = resource.name();
    if name.chars().count() > limits::MAX_NAME_CHARS {
        return Err(Malformed {
            field: "resource.name",
            message: format!("is longer than {} characters", limits::MAX_NAME_CHARS),
        });
    }
    let tags = resource.tags();
    if tags.len() > limits::MAX_TAGS {
        return Err(Malformed {
            field: "resource.tags",
            message: format!("holds more than {} tags", limits::MAX_TAGS),
        });
    }
    if tags.iter().any(|t| t.chars().count() > limits::MAX_TAG_CHARS) {
        return Err(Malformed {
            field: "resource.tags",
            message: format!("holds a tag longer than {} characters", limits::MAX_TAG_CHARS),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oversized_or_malformed_document_is_refused_by_name() {
        let big = wire::Document { json: vec![b' '; limits::MAX_DOCUMENT_BYTES + 1] };
        assert_eq!(read_resource(Some(big)).expect_err("too big").field, "resource");
        let garbage = wire::Document { json: b"{\"kind\":\"volume\"}".to_vec() };
        assert!(read_resource(Some(garbage)).is_err());
        assert!(read_resource(None).is_err());
    }

    #[test]
    fn a_resource_round_trips() {
        let ip = Resource::ReservedIp(nephele_core::ReservedIp {
            id: ResourceId("203.0.113.9".into()),
            address: "203.0.113.9".parse().expect("ip"),
            region: "nyc1".into(),
            assigned_to: None,
            locked: false,
            tags: vec![],
            created_at: None,
        });
        assert_eq!(read_resource(Some(document(&ip))).expect("reads"), ip);
    }
}
