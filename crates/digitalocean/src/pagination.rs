//! Reading a whole list, page by page, without trusting what the pages say about themselves.
//!
//! The first page's `meta.total` sets how many pages to fetch (concurrently, `ceil(total/200)`
//! requests), but only up to `max_list_pages`: a total beyond that is refused, not believed. A
//! list that grew while it was read is finished by following `links.pages.next`, and those links
//! are never requested as given: only their page number is taken, and the page is asked for
//! again under `base_url`. Following stops when a page number repeats or a page brings nothing
//! new, and the whole list must fit in the call deadline, so no answer can keep Nephele reading.

use std::collections::HashSet;

use futures_util::StreamExt;
use nephele_core::ProviderError;
use reqwest::Method;
use serde::de::DeserializeOwned;

use crate::metrics::ClientMetrics;
use crate::transport::{Retry, Transport};
use crate::wire::{self, Keyed};

/// DigitalOcean's largest page.
pub const PER_PAGE: usize = 200;

/// How much of a list the client reads, and how.
#[derive(Debug, Clone, Copy)]
pub struct ListLimits {
    /// Pages fetched at once after the first.
    pub concurrency: usize,
    /// Most pages one list may take.
    pub max_pages: usize,
}

/// `path` with `pairs` as its query, values percent-encoded.
pub fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = String::new();
    for (key, value) in pairs {
        query.push(if query.is_empty() { '?' } else { '&' });
        query.push_str(key);
        query.push('=');
        for byte in value.bytes() {
            if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
                query.push(byte as char);
            } else {
                query.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    format!("{path}{query}")
}

/// The `page` number a `links.pages.next` link names, whatever host or path it names.
fn page_number(link: &str) -> Option<usize> {
    let query = link.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    query.split('&').find_map(|pair| pair.strip_prefix("page=")?.parse().ok()).filter(|n| *n >= 1)
}

/// One page of `path`, decoded off the I/O task (a 200-droplet page is real CPU work).
async fn fetch_page<T: DeserializeOwned + Send + 'static>(
    transport: &Transport,
    path: String,
    what: &'static str,
) -> Result<wire::Paged<T>, ProviderError> {
    let reply = transport.send(Method::GET, &path, None, Retry::Idempotent).await?;
    tokio::task::spawn_blocking(move || reply.decode::<wire::Paged<T>>(what))
        .await
        .map_err(|e| ProviderError::unavailable(format!("page decoding stopped: {e}")))?
}

fn next_link<T>(page: &wire::Paged<T>) -> Option<String> {
    page.links.as_ref()?.pages.as_ref()?.next.clone()
}

/// Every item of the list at `path` (with `filters`), within `limits` and the call deadline.
pub async fn list_all<T: DeserializeOwned + Keyed + Send + 'static>(
    transport: &Transport,
    metrics: &ClientMetrics,
    limits: ListLimits,
    path: &str,
    filters: &[(&str, &str)],
    what: &'static str,
) -> Result<Vec<T>, ProviderError> {
    let deadline = transport.call_deadline();
    tokio::time::timeout(deadline, read_pages(transport, metrics, limits, path, filters, what))
        .await
        .map_err(|_| {
            ProviderError::unavailable(format!(
                "the {what} did not arrive within the call deadline ({} s)",
                deadline.as_secs()
            ))
        })?
}

async fn read_pages<T: DeserializeOwned + Keyed + Send + 'static>(
    transport: &Transport,
    metrics: &ClientMetrics,
    limits: ListLimits,
    path: &str,
    filters: &[(&str, &str)],
    what: &'static str,
) -> Result<Vec<T>, ProviderError> {
    let per_page = PER_PAGE.to_string();
    let page_path = |page: usize| {
        let page = page.to_string();
        let mut pairs = filters.to_vec();
        pairs.push(("page", &page));
        pairs.push(("per_page", &per_page));
        with_query(path, &pairs)
    };
    let first: wire::Paged<T> = fetch_page(transport, page_path(1), what).await?;
    let total = first.meta.as_ref().map(|m| m.total).unwrap_or(first.items.len() as u64);
    let pages = usize::try_from(total.div_ceil(PER_PAGE as u64)).unwrap_or(usize::MAX).max(1);
    if pages > limits.max_pages {
        return Err(ProviderError::invalid_response(format!(
            "DigitalOcean says the {what} holds {total} items: more than the {} pages of {PER_PAGE} Nephele reads in one list (providers.digitalocean.max_list_pages)",
            limits.max_pages
        )));
    }
    let mut next = next_link(&first);
    let mut items = first.items;
    if pages > 1 {
        let mut rest = futures_util::stream::iter(2..=pages)
            .map(|page| {
                let path = page_path(page);
                async move { fetch_page::<T>(transport, path, what).await.map(|p| (page, p)) }
            })
            .buffer_unordered(limits.concurrency.max(1))
            .collect::<Vec<_>>()
            .await;
        rest.sort_by_key(|r| r.as_ref().map(|(page, _)| *page).unwrap_or(0));
        next = None;
        for result in rest {
            let (_, page) = result?;
            next = next_link(&page);
            items.extend(page.items);
        }
    }
    // The list grew while we read it: follow the links to the end, one page at a time.
    let mut asked: HashSet<usize> = (1..=pages).collect();
    let mut seen: Option<HashSet<String>> = None;
    while let Some(link) = next.take() {
        let Some(page) = page_number(&link) else {
            return Err(ProviderError::invalid_response(format!(
                "DigitalOcean sent a {what} whose next-page link names no page number"
            )));
        };
        if !asked.insert(page) {
            tracing::warn!(what, page, "a pagination link repeats a page already read; the list ends here");
            metrics.list_cut_short();
            break;
        }
        if asked.len() > limits.max_pages {
            return Err(ProviderError::invalid_response(format!(
                "the {what} runs past {} pages (providers.digitalocean.max_list_pages)",
                limits.max_pages
            )));
        }
        let fetched: wire::Paged<T> = fetch_page(transport, page_path(page), what).await?;
        let seen = seen.get_or_insert_with(|| items.iter().map(Keyed::key).collect());
        let before = items.len();
        next = next_link(&fetched);
        items.extend(fetched.items.into_iter().filter(|item| seen.insert(item.key())));
        if items.len() == before {
            tracing::warn!(what, page, "a page brought no new item; the list ends here");
            metrics.list_cut_short();
            break;
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_page_number_of_a_link_is_taken() {
        assert_eq!(page_number("http://127.0.0.1:9/steal?page=2"), Some(2));
        assert_eq!(page_number("https://api.digitalocean.com/v2/droplets?per_page=200&page=7#x"), Some(7));
        assert_eq!(page_number("https://api.digitalocean.com/v2/droplets?page=0"), None);
        assert_eq!(page_number("https://api.digitalocean.com/v2/droplets"), None);
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(with_query("/v2/droplets", &[("tag_name", "a b&c")]), "/v2/droplets?tag_name=a%20b%26c");
    }
}
