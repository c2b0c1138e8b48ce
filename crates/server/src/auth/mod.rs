//! The HTTP side of authentication: [`access`] checks each route's key and role (from the route
//! table) and audits it; [`hosts`] refuses requests for foreign host names while the API runs
//! open. Keys, roles and principals themselves are the engine's (`nephele_engine::auth`).

pub mod access;
pub mod hosts;

use axum::http::{HeaderMap, header};

pub use nephele_engine::auth::{Principal, Role};

/// The key in `Authorization: Bearer <key>`; the scheme is case-insensitive (RFC 9110 11.1).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in ["Bearer nph_a_b", "bearer nph_a_b", "BEARER   nph_a_b "] {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
            assert_eq!(bearer_token(&headers), Some("nph_a_b"), "{value}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic nph_a_b"));
        assert_eq!(bearer_token(&headers), None);
    }
}
