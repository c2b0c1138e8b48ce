//! Checks made before a call, so no API budget is spent on requests DigitalOcean would refuse.

use nephele_core::{CreateInstances, MAX_USER_DATA_BYTES, ProviderError, is_valid_tag};

pub const MAX_NAMES_PER_CREATE: usize = 10;

/// DigitalOcean's tag rule: letters, digits, `:`, `-`, `_`; 1..=255 characters.
pub fn tag(tag: &str) -> Result<(), ProviderError> {
    if is_valid_tag(tag) {
        Ok(())
    } else {
        Err(ProviderError::invalid(
            "tags",
            format!("tag {tag:?} must be 1..255 characters of letters, digits, `:`, `-` and `_`"),
        ))
    }
}

/// Everything about a create that can be known wrong without asking DigitalOcean.
/// (Names are checked when they are parsed into `InstanceName`.)
pub fn create(request: &CreateInstances) -> Result<(), ProviderError> {
    match request.names.len() {
        0 => return Err(ProviderError::invalid("names", "at least one name is required")),
        n if n > MAX_NAMES_PER_CREATE => {
            return Err(ProviderError::invalid(
                "names",
                format!("DigitalOcean creates at most {MAX_NAMES_PER_CREATE} droplets per request, got {n}"),
            ));
        }
        _ => {}
    }
    if let Some(user_data) = &request.user_data
        && user_data.len() > MAX_USER_DATA_BYTES
    {
        return Err(ProviderError::invalid(
            "user_data",
            format!("must be at most 64 KiB, got {} bytes", user_data.len()),
        ));
    }
    for (field, value) in
        [("type", &request.instance_type), ("region", &request.region), ("image", &request.image)]
    {
        if value.trim().is_empty() {
            return Err(ProviderError::invalid(field, "must not be empty"));
        }
    }
    request.tags.iter().try_for_each(|t| tag(t))
}
