//! `ApiQuery<T>`: query strings read into a typed struct, so every problem gets our error shape:
//! a 422 naming the parameter at fault, for a value of the wrong type, a parameter the route does
//! not take, or one given twice (a repeat would otherwise be a new spelling of the same request).
//!
//! `T` derives `Deserialize` with `#[serde(deny_unknown_fields)]`; values arrive as strings and
//! are parsed into the field's type (numbers, booleans, enums by their names).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::{ApiError, FieldError};

/// The parsed query string.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse(parts.uri.query().unwrap_or_default()).map(Self)
    }
}

/// `raw` (a query string without its `?`) as a `T`.
pub fn parse<T: DeserializeOwned>(raw: &str) -> Result<T, ApiError> {
    let pairs = form_urlencoded::parse(raw.as_bytes());
    let mut seen = std::collections::BTreeSet::new();
    for (key, _) in pairs {
        if !seen.insert(key.clone()) {
            return Err(ApiError::invalid(vec![FieldError::new(key, "is given more than once")]));
        }
    }
    let deserializer = serde_urlencoded::Deserializer::new(pairs);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        // An unknown parameter's error names it in its message, not its path.
        let field = match unknown_field(&message) {
            Some(name) => name.to_owned(),
            None if path == "." => "query".to_owned(),
            None => path,
        };
        ApiError::invalid(vec![FieldError::new(field, message)])
    })
}

/// The parameter serde's "unknown field `x`, expected ..." names.
fn unknown_field(message: &str) -> Option<&str> {
    message.strip_prefix("unknown field `")?.split('`').next()
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Page {
        limit: Option<i64>,
        state: Option<String>,
    }

    fn field(raw: &str) -> String {
        match parse::<Page>(raw) {
            Ok(page) => panic!("{raw:?} was taken: {page:?}"),
            Err(e) => e.errors[0].field.clone(),
        }
    }

    #[test]
    fn values_are_typed_and_every_refusal_names_its_parameter() {
        assert_eq!(parse::<Page>("limit=5").ok(), Some(Page { limit: Some(5), state: None }));
        assert_eq!(parse::<Page>("").ok(), Some(Page { limit: None, state: None }));
        assert_eq!(field("limit=five"), "limit");
        assert_eq!(field("limit=1&limit=2"), "limit");
        assert_eq!(field("colour=red"), "colour");
    }
}
