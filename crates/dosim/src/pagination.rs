//! `page` / `per_page` parsing and DigitalOcean's `links.pages` + `meta.total`.

use serde_json::{Value, json};

use crate::error::DoError;
use crate::wire::PageLinks;

pub const MAX_PER_PAGE: usize = 200;
pub const DEFAULT_PER_PAGE: usize = 20;

/// A request's query string, decoded once.
#[derive(Debug, Default, Clone)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        Self(raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Which slice of a list was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: usize,
    pub per_page: usize,
}

fn positive(query: &Query, key: &str, default: usize, max: usize) -> Result<usize, DoError> {
    match query.get(key) {
        None => Ok(default),
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            // `page` has no upper bound in the spec: a page number past what fits is simply a
            // page past the end.
            Err(_) if max == usize::MAX && is_positive_integer(raw) => Ok(usize::MAX),
            _ => Err(DoError::bad_request(format!(
                "{key} must be an integer between 1 and {max}, got {raw:?}"
            ))),
        },
    }
}

fn is_positive_integer(raw: &str) -> bool {
    !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) && raw.bytes().any(|b| b != b'0')
}

impl Page {
    pub fn from_query(query: &Query) -> Result<Self, DoError> {
        Ok(Self {
            page: positive(query, "page", 1, usize::MAX)?,
            per_page: positive(query, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)?,
        })
    }

    /// Index range of this page within `total` items (empty past the end).
    pub fn range(&self, total: usize) -> std::ops::Range<usize> {
        let start = (self.page - 1).saturating_mul(self.per_page).min(total);
        let end = start.saturating_add(self.per_page).min(total);
        start..end
    }

    /// This page's items out of `items`, which holds `total` in all.
    pub fn take<I: Iterator>(&self, items: I, total: usize) -> impl Iterator<Item = I::Item> {
        let range = self.range(total);
        items.skip(range.start).take(range.len())
    }

    fn last_page(&self, total: usize) -> usize {
        total.div_ceil(self.per_page).max(1)
    }

    /// `links` for this page: `first`/`prev` after page 1, `next`/`last` before the last page.
    pub fn links(&self, total: usize, base_url: &str, path: &str, query: &Query) -> Value {
        let last = self.last_page(total);
        let url = |page: usize| {
            let mut out = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &query.0 {
                if k != "page" && k != "per_page" {
                    out.append_pair(k, v);
                }
            }
            out.append_pair("page", &page.to_string());
            out.append_pair("per_page", &self.per_page.to_string());
            format!("{base_url}{path}?{}", out.finish())
        };
        let mut pages = PageLinks::default();
        if self.page > 1 {
            pages.first = Some(url(1));
            pages.prev = Some(url((self.page - 1).min(last)));
        }
        if self.page < last {
            pages.next = Some(url(self.page + 1));
            pages.last = Some(url(last));
        }
        json!({ "pages": pages })
    }
}

/// A list answer: `{"<key>": [...], "links": {...}, "meta": {"total": N}}`, serialised straight
/// from the items (no intermediate `Value`: a page of 200 droplets is about 700 KB).
pub struct ListBody<T> {
    key: &'static str,
    items: Vec<T>,
    links: Value,
    total: usize,
}

impl<T: serde::Serialize> serde::Serialize for ListBody<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry(self.key, &self.items)?;
        map.serialize_entry("links", &self.links)?;
        map.serialize_entry("meta", &json!({ "total": self.total }))?;
        map.end()
    }
}

pub fn list_body<T: serde::Serialize>(
    key: &'static str,
    items: Vec<T>,
    page: Page,
    total: usize,
    base_url: &str,
    path: &str,
    query: &Query,
) -> ListBody<T> {
    ListBody { key, links: page.links(total, base_url, path, query), items, total }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_ranges_clip_to_the_total() {
        let p = Page { page: 50, per_page: 200 };
        assert_eq!(p.range(10_000), 9_800..10_000);
        assert_eq!(Page { page: 51, per_page: 200 }.range(10_000), 10_000..10_000);
        assert_eq!(Page { page: 1, per_page: 20 }.range(5), 0..5);
    }

    #[test]
    fn bad_page_values_are_refused() {
        for raw in ["per_page=0", "per_page=201", "page=0", "page=-1", "per_page=abc"] {
            assert!(Page::from_query(&Query::parse(Some(raw))).is_err(), "{raw}");
        }
        assert_eq!(
            Page::from_query(&Query::parse(Some("per_page=200&page=3"))).ok(),
            Some(Page { page: 3, per_page: 200 })
        );
        let far = Page::from_query(&Query::parse(Some("page=530840661228591251456"))).ok();
        assert_eq!(far.map(|p| p.range(10)), Some(10..10), "a page past what fits is past the end");
    }

    #[test]
    fn links_name_only_the_pages_that_exist() {
        let q = Query::parse(Some("tag_name=web"));
        let first = Page { page: 1, per_page: 2 }.links(5, "http://h", "/v2/droplets", &q);
        assert_eq!(first["pages"]["next"], "http://h/v2/droplets?tag_name=web&page=2&per_page=2");
        assert_eq!(first["pages"]["last"], "http://h/v2/droplets?tag_name=web&page=3&per_page=2");
        assert!(first["pages"].get("prev").is_none());
        let last = Page { page: 3, per_page: 2 }.links(5, "http://h", "/v2/droplets", &q);
        assert!(last["pages"].get("next").is_none());
        assert_eq!(last["pages"]["prev"], "http://h/v2/droplets?tag_name=web&page=2&per_page=2");
    }
}
