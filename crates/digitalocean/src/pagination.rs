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
use crate::wire;

/// An item of a list, known by a key that is unique within its list: how pagination tells a
/// page that brings something new from one that repeats what was already read.
pub trait Keyed {
    fn key(&self) -> String;
}

impl Keyed for nephele_core::Instance {
    fn key(&self) -> String {
        self.id.0.clone()
    }
}

impl Keyed for nephele_core::Region {
    fn key(&self) -> String {
        self.id.clone()
    }
}

impl Keyed for nephele_core::InstanceType {
    fn key(&self) -> String {
        self.id.clone()
    }
}

impl Keyed for nephele_core::Image {
    fn key(&self) -> String {
        self.id.clone()
    }
}

impl Keyed for nephele_core::Resource {
    fn key(&self) -> String {
        self.id().0.clone()
    }
}

impl Keyed for nephele_core::VpcMember {
    fn key(&self) -> String {
        format!("{}:{}", self.kind, self.id)
    }
}

impl Keyed for crate::resources::wire::DropletSnapshot {
    fn key(&self) -> String {
        self.id.to_string()
    }
}

impl Keyed for crate::resources::wire::SshKey {
    fn key(&self) -> String {
        self.id.to_string()
    }
}

/// A page, its items already converted: the wire form of a page lives only while it is decoded.
struct Page<T> {
    items: Vec<T>,
    next: Option<String>,
    total: Option<u64>,
    /// Time its request waited for the rate budget.
    waited: std::time::Duration,
}

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

/// How a list's wire items become what the client returns.
pub type Convert<W, T> = fn(W) -> Result<T, ProviderError>;

/// One page of `path`, decoded and converted off the I/O task (a 200-droplet page is real CPU
/// work, and its wire form several times the size of what it becomes).
async fn fetch_page<W, T>(
    transport: &Transport,
    path: String,
    what: &'static str,
    convert: Convert<W, T>,
) -> Result<Page<T>, ProviderError>
where
    W: DeserializeOwned + Send + 'static,
    T: Send + 'static,
{
    let reply = transport.send(Method::GET, &path, None, Retry::Idempotent).await?;
    let waited = reply.waited;
    tokio::task::spawn_blocking(move || {
        let page = reply.decode::<wire::Paged<W>>(what)?;
        drop(reply);
        let next = page.links.as_ref().and_then(|l| l.pages.as_ref()).and_then(|p| p.next.clone());
        let total = page.meta.as_ref().map(|m| m.total);
        let items = page.items.into_iter().map(convert).collect::<Result<Vec<T>, _>>()?;
        Ok(Page { items, next, total, waited })
    })
    .await
    .map_err(|e| ProviderError::unavailable(format!("page decoding stopped: {e}")))?
}

/// The pages `pages` of a list, read `limits.concurrency` at a time, in page order.
async fn fetch_pages<W, T>(
    transport: &Transport,
    limits: ListLimits,
    pages: std::ops::RangeInclusive<usize>,
    page_path: &(dyn Fn(usize) -> String + Sync),
    what: &'static str,
    convert: Convert<W, T>,
) -> Result<Vec<(usize, Page<T>)>, ProviderError>
where
    W: DeserializeOwned + Send + 'static,
    T: Send + 'static,
{
    let mut read = futures_util::stream::iter(pages)
        .map(|page| {
            let path = page_path(page);
            async move { fetch_page(transport, path, what, convert).await.map(|p| (page, p)) }
        })
        .buffer_unordered(limits.concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    read.sort_unstable_by_key(|(page, _)| *page);
    Ok(read)
}

/// Most lists whose page count is remembered (one per path and filter set).
const MAX_HINTS: usize = 256;

/// How many pages each list had when it was last read, so that the next read asks for all of
/// them at once instead of waiting for the first page to say how many there are: a refresh of
/// 10,000 droplets takes one round trip instead of two. A guess too high costs empty pages past
/// the end; too low, the rest is asked for as before.
#[derive(Debug, Default)]
pub struct PageHints {
    pages: std::sync::Mutex<std::collections::HashMap<String, usize>>,
}

impl PageHints {
    fn get(&self, list: &str) -> Option<usize> {
        self.pages.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(list).copied()
    }

    fn set(&self, list: String, pages: usize) {
        let mut known = self.pages.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if known.len() >= MAX_HINTS && !known.contains_key(&list) {
            known.clear();
        }
        known.insert(list, pages);
    }
}

/// What one list call reads.
#[derive(Debug, Clone, Copy)]
pub struct ListOf<'a> {
    pub path: &'a str,
    pub filters: &'a [(&'a str, &'a str)],
    /// For messages: `droplet list`.
    pub what: &'static str,
}

/// Every item of the list at `list.path` (with its filters), each converted by `convert`,
/// within `limits` and the call deadline.
pub async fn list_all<W, T>(
    transport: &Transport,
    metrics: &ClientMetrics,
    hints: &PageHints,
    limits: ListLimits,
    list: ListOf<'_>,
    convert: Convert<W, T>,
) -> Result<Vec<T>, ProviderError>
where
    W: DeserializeOwned + Send + 'static,
    T: Keyed + Send + 'static,
{
    let deadline = transport.call_deadline();
    let ListOf { path, filters, what } = list;
    let read = async move {
        let per_page = PER_PAGE.to_string();
        let page_path = |page: usize| {
            let page = page.to_string();
            let mut pairs = filters.to_vec();
            pairs.push(("page", &page));
            pairs.push(("per_page", &per_page));
            with_query(path, &pairs)
        };
        // Every page the last read of this list had is asked for at once, page 1 among them;
        // only a list read for the first time (or grown) waits for page 1 to say how many.
        let key = with_query(path, filters);
        let guess = hints.get(&key).filter(|p| (2..=limits.max_pages).contains(p)).unwrap_or(1);
        let mut read = fetch_pages(transport, limits, 1..=guess, &page_path, what, convert).await?;
        let first = read.first().filter(|(page, _)| *page == 1).map(|(_, p)| p).ok_or_else(|| {
            ProviderError::invalid_response(format!("DigitalOcean sent no first page of the {what}"))
        })?;
        let total = first.total.unwrap_or(first.items.len() as u64);
        let pages = usize::try_from(total.div_ceil(PER_PAGE as u64)).unwrap_or(usize::MAX).max(1);
        if pages > limits.max_pages {
            return Err(ProviderError::invalid_response(format!(
                "DigitalOcean says the {what} holds {total} items: more than the {} pages of {PER_PAGE} Nephele reads in one list (providers.digitalocean.max_list_pages)",
                limits.max_pages
            )));
        }
        if pages > guess {
            read.extend(fetch_pages(transport, limits, guess + 1..=pages, &page_path, what, convert).await?);
        }
        hints.set(key, pages);
        let mut asked: HashSet<usize> = HashSet::with_capacity(read.len());
        let mut items =
            Vec::with_capacity(usize::try_from(total).unwrap_or(0).min(limits.max_pages * PER_PAGE));
        let mut waited = std::time::Duration::ZERO;
        let mut next = None;
        let mut fetched_pages = read.len();
        // Pages past the end (the list shrank since the last read) come back empty.
        for (page, fetched) in read {
            asked.insert(page);
            waited += fetched.waited;
            next = fetched.next;
            items.extend(fetched.items);
        }
        // The list grew while we read it: follow the links to the end, one page at a time.
        let mut seen: Option<HashSet<String>> = None;
        while let Some(link) = next.take() {
            let Some(page) = page_number(&link) else {
                return Err(ProviderError::invalid_response(format!(
                    "DigitalOcean sent a {what} whose next-page link names no page number"
                )));
            };
            if !asked.insert(page) {
                tracing::warn!(
                    what,
                    page,
                    "a pagination link repeats a page already read; the list ends here"
                );
                metrics.list_cut_short();
                break;
            }
            if asked.len() > limits.max_pages {
                return Err(ProviderError::invalid_response(format!(
                    "the {what} runs past {} pages (providers.digitalocean.max_list_pages)",
                    limits.max_pages
                )));
            }
            let fetched = fetch_page(transport, page_path(page), what, convert).await?;
            waited += fetched.waited;
            fetched_pages += 1;
            let seen = seen.get_or_insert_with(|| items.iter().map(Keyed::key).collect());
            let before = items.len();
            next = fetched.next;
            items.extend(fetched.items.into_iter().filter(|item| seen.insert(item.key())));
            if items.len() == before {
                tracing::warn!(what, page, "a page brought no new item; the list ends here");
                metrics.list_cut_short();
                break;
            }
        }
        if !waited.is_zero() {
            // One line per list, however many of its pages waited.
            tracing::info!(
                what,
                pages = fetched_pages,
                waited_ms = waited.as_millis() as u64,
                "list paced by the DigitalOcean rate budget"
            );
        }
        Ok::<_, ProviderError>(items)
    };
    tokio::time::timeout(deadline, read).await.map_err(|_| {
        ProviderError::unavailable(format!(
            "the {what} did not arrive within the call deadline ({} s)",
            deadline.as_secs()
        ))
    })?
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
