//! Rendered list answers, kept by `ETag`: a list of 10,000 instances is several megabytes of
//! JSON, and every client asking for the same copy with the same filter gets the same bytes, so
//! they are rendered once (off the I/O threads, once however many ask at the same moment) and
//! then served as they are.
//!
//! The key is the `ETag`, made from the copies' versions and the parsed filter, never from the
//! raw query, so the spellings of one filter share one entry. Memory is bounded three ways:
//! - answers kept in all (the oldest go first);
//! - one answer kept: a larger one is never held whole; it is streamed to each caller as it is
//!   sent, a chunk at a time, from the inventory's copy (which is in memory anyway);
//! - whole renders at once: a crowd of different filters waits for a turn, rather than holding a
//!   render (and its growing buffer) each.
//!
//! It must never hold more than one answer's bound for a key, nor render a key twice at once.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use nephele_core::{Instance, InstanceFilter};
use serde::Serialize;
use tokio::sync::{OnceCell, Semaphore};

use super::error::ProviderFailure;
use super::views::InstanceView;

/// Bytes of a streamed answer's chunks (a chunk ends at the first instance that passes this).
const CHUNK_BYTES: usize = 64 * 1024;
/// What an entry costs beyond its answer (its key, its place in the map and the queue).
const ENTRY_OVERHEAD: usize = 256;

/// A list answer before it is rendered: the instances of some providers' copies that pass a
/// filter, and what is said about them (the shape of [`super::views::InstanceList`]).
pub struct ListAnswer {
    /// Each provider's copy, by the provider's name, in the order they are listed.
    pub copies: Vec<(String, Arc<Vec<Instance>>)>,
    /// Each listed account's provider type, by the account's name.
    pub provider_types: std::collections::BTreeMap<String, String>,
    pub filter: InstanceFilter,
    pub as_of: Option<String>,
    pub stale: bool,
    pub errors: Vec<ProviderFailure>,
    /// The next page's cursor, when the caller asked for a page and there is more.
    pub next: Option<String>,
}

/// The fields after `instances`, in [`super::views::InstanceList`]'s order.
#[derive(Serialize)]
struct Tail<'a> {
    as_of: &'a Option<String>,
    stale: bool,
    errors: &'a [ProviderFailure],
    #[serde(skip_serializing_if = "Option::is_none")]
    next: &'a Option<String>,
}

#[derive(Clone, Copy)]
enum Stage {
    Head,
    Instances { copy: usize, index: usize },
    Tail,
    Done,
}

/// Writes a [`ListAnswer`] piece by piece, an instance at a time, so that neither a whole
/// answer nor its views need exist at once.
struct Writer {
    answer: Arc<ListAnswer>,
    stage: Stage,
    wrote_an_instance: bool,
}

impl Writer {
    fn new(answer: Arc<ListAnswer>) -> Self {
        Self { answer, stage: Stage::Head, wrote_an_instance: false }
    }

    /// Appends to `out` until it holds at least `until` bytes or the answer is complete;
    /// returns whether more is to come.
    fn fill(&mut self, out: &mut Vec<u8>, until: usize) -> bool {
        let mut view = Vec::new();
        while out.len() < until {
            match self.stage {
                Stage::Head => {
                    out.extend_from_slice(b"{\"instances\":[");
                    self.stage = Stage::Instances { copy: 0, index: 0 };
                }
                Stage::Instances { copy, index } => {
                    let Some((provider, instances)) = self.answer.copies.get(copy) else {
                        self.stage = Stage::Tail;
                        continue;
                    };
                    let Some(instance) = instances.get(index) else {
                        self.stage = Stage::Instances { copy: copy + 1, index: 0 };
                        continue;
                    };
                    self.stage = Stage::Instances { copy, index: index + 1 };
                    if !self.answer.filter.matches(instance) {
                        continue;
                    }
                    view.clear();
                    // A field the cloud sent that cannot be written (a creation date past the
                    // year 9999, say) costs that instance, never the list.
                    if let Err(error) = serde_json::to_writer(
                        &mut view,
                        &InstanceView::new(
                            provider,
                            self.answer.provider_types.get(provider).map_or("", String::as_str),
                            instance.clone(),
                        ),
                    ) {
                        tracing::warn!(provider, instance_id = %instance.id, %error, "an instance cannot be written in a list; left out");
                        continue;
                    }
                    if self.wrote_an_instance {
                        out.push(b',');
                    }
                    self.wrote_an_instance = true;
                    out.extend_from_slice(&view);
                }
                Stage::Tail => {
                    let answer = &self.answer;
                    let tail = Tail {
                        as_of: &answer.as_of,
                        stale: answer.stale,
                        errors: &answer.errors,
                        next: &answer.next,
                    };
                    let tail = serde_json::to_vec(&tail).unwrap_or_else(|_| b"{}".to_vec());
                    // `],` then the tail object's fields: `{"as_of":...}` without its `{`.
                    out.extend_from_slice(b"],");
                    out.extend_from_slice(tail.get(1..).unwrap_or(b"}"));
                    self.stage = Stage::Done;
                }
                Stage::Done => return false,
            }
        }
        !matches!(self.stage, Stage::Done)
    }
}

/// The whole answer, unless it comes to more than `bound` bytes.
fn render_whole(answer: Arc<ListAnswer>, bound: usize) -> Option<Vec<u8>> {
    let mut writer = Writer::new(answer);
    let mut out = Vec::new();
    while writer.fill(&mut out, bound.saturating_add(1)) {
        if out.len() > bound {
            return None;
        }
    }
    (out.len() <= bound).then_some(out)
}

/// The answer as a body written while it is sent: each chunk is made when the caller has taken
/// the last one, so a slow caller holds a chunk, not the answer.
fn streamed(answer: Arc<ListAnswer>) -> Body {
    let chunks = futures_util::stream::unfold(Writer::new(answer), |mut writer| async move {
        let mut chunk = Vec::with_capacity(CHUNK_BYTES);
        let more = writer.fill(&mut chunk, CHUNK_BYTES);
        (more || !chunk.is_empty()).then(|| (Ok::<_, Infallible>(Bytes::from(chunk)), writer))
    });
    Body::from_stream(chunks)
}

/// How an answer is served.
#[derive(Clone)]
enum Rendered {
    /// Rendered once, kept, and sent as it is.
    Whole(Bytes),
    /// Above the bound: written anew for each caller, as it is sent.
    Streamed,
}

struct Entries {
    by_key: HashMap<String, Arc<OnceCell<Rendered>>>,
    order: VecDeque<String>,
    bytes: usize,
}

pub struct RenderedCache {
    /// Bytes kept in all.
    max_bytes: usize,
    /// The largest answer kept (and rendered whole).
    max_answer_bytes: usize,
    /// Whole renders under way at once.
    renders: Semaphore,
    entries: Mutex<Entries>,
}

impl RenderedCache {
    pub fn new(max_bytes: usize, max_answer_bytes: usize, max_renders: usize) -> Self {
        Self {
            max_bytes,
            max_answer_bytes: max_answer_bytes.min(max_bytes),
            renders: Semaphore::new(max_renders.max(1)),
            entries: Mutex::new(Entries { by_key: HashMap::new(), order: VecDeque::new(), bytes: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The body of `answer`, whose `ETag` is `key`: kept bytes when it has been rendered, one
    /// render (on a blocking thread, shared by everyone asking meanwhile) when not, or a stream
    /// when it is larger than one answer's bound.
    pub async fn body(&self, key: &str, answer: ListAnswer) -> Body {
        let answer = Arc::new(answer);
        let cell = self.lock().by_key.entry(key.to_owned()).or_default().clone();
        let mut rendered_here = false;
        let rendered = cell
            .get_or_init(|| async {
                rendered_here = true;
                // The semaphore is never closed; without a permit the render would go ahead all
                // the same, so nothing is lost by not asking why.
                let _turn = self.renders.acquire().await.ok();
                let (answer, bound) = (answer.clone(), self.max_answer_bytes);
                match tokio::task::spawn_blocking(move || render_whole(answer, bound)).await {
                    Ok(Some(bytes)) => Rendered::Whole(Bytes::from(bytes)),
                    Ok(None) => Rendered::Streamed,
                    // A render that panicked fails this request like any panic in it would.
                    Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                    Err(_) => Rendered::Streamed,
                }
            })
            .await
            .clone();
        if rendered_here {
            self.keep(key, &rendered);
        }
        match rendered {
            Rendered::Whole(bytes) => Body::from(bytes),
            Rendered::Streamed => streamed(answer),
        }
    }

    /// Counts a new entry, and lets the oldest go past the bound.
    fn keep(&self, key: &str, rendered: &Rendered) {
        let size = |rendered: Option<&Rendered>| match rendered {
            Some(Rendered::Whole(bytes)) => ENTRY_OVERHEAD + bytes.len(),
            _ => ENTRY_OVERHEAD,
        };
        let mut entries = self.lock();
        entries.order.push_back(key.to_owned());
        entries.bytes += size(Some(rendered));
        while entries.bytes > self.max_bytes && entries.order.len() > 1 {
            let Some(oldest) = entries.order.pop_front() else { break };
            if let Some(cell) = entries.by_key.remove(&oldest) {
                entries.bytes = entries.bytes.saturating_sub(size(cell.get()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::views::InstanceList;
    use nephele_core::{InstanceId, InstanceStatus};

    fn instance(i: usize, region: &str) -> Instance {
        Instance {
            id: InstanceId(format!("{i:06}")),
            name: format!("droplet-{i}"),
            status: InstanceStatus::Running,
            provider_status: "active".to_owned(),
            instance_type: "s-1vcpu-1gb".to_owned(),
            region: region.to_owned(),
            image: "ubuntu-24-04-x64".to_owned(),
            vcpus: 1,
            memory_mib: 1024,
            disk_gib: 25,
            public_ipv4: Some("203.0.113.7".to_owned()),
            private_ipv4: None,
            public_ipv6: None,
            tags: vec!["web".to_owned()],
            features: Vec::new(),
            locked: false,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn answer(count: usize, filter: InstanceFilter) -> ListAnswer {
        let copy: Vec<Instance> =
            (0..count).map(|i| instance(i, if i % 2 == 0 { "nyc1" } else { "ams3" })).collect();
        ListAnswer {
            copies: vec![
                ("digitalocean".to_owned(), Arc::new(copy)),
                ("other".to_owned(), Arc::new(Vec::new())),
            ],
            provider_types: [("digitalocean".to_owned(), "digitalocean".to_owned())].into(),
            filter,
            next: None,
            as_of: Some("2026-01-01T00:00:00Z".to_owned()),
            stale: true,
            errors: Vec::new(),
        }
    }

    /// What `serde_json` makes of the same list built whole: the written answer must equal it.
    fn expected(answer: &ListAnswer) -> serde_json::Value {
        let list = InstanceList {
            instances: answer
                .copies
                .iter()
                .flat_map(|(name, copy)| {
                    copy.iter().filter(|i| answer.filter.matches(i)).map(|i| {
                        InstanceView::new(
                            name,
                            answer.provider_types.get(name).map_or("", String::as_str),
                            i.clone(),
                        )
                    })
                })
                .collect(),
            as_of: answer.as_of.clone(),
            next: answer.next.clone(),
            stale: answer.stale,
            errors: answer.errors.clone(),
        };
        serde_json::to_value(list).expect("serialisable")
    }

    async fn collect(body: Body) -> Vec<u8> {
        axum::body::to_bytes(body, usize::MAX).await.expect("body").to_vec()
    }

    #[test]
    fn a_written_answer_is_the_list_as_serde_writes_it() {
        for (count, filter) in [
            (0, InstanceFilter::default()),
            (5, InstanceFilter::default()),
            (5, InstanceFilter { region: Some("ams3".to_owned()), ..Default::default() }),
            (5, InstanceFilter { region: Some("nowhere".to_owned()), ..Default::default() }),
        ] {
            let answer = answer(count, filter);
            let want = expected(&answer);
            let whole = render_whole(Arc::new(answer), usize::MAX).expect("within the bound");
            assert_eq!(serde_json::from_slice::<serde_json::Value>(&whole).expect("json"), want);
        }
    }

    #[tokio::test]
    async fn a_streamed_answer_is_the_same_bytes_as_a_whole_one() {
        let answer = Arc::new(answer(2_000, InstanceFilter::default()));
        let whole = render_whole(answer.clone(), usize::MAX).expect("within the bound");
        assert!(whole.len() > 4 * CHUNK_BYTES, "several chunks: {}", whole.len());
        assert_eq!(collect(streamed(answer)).await, whole);
    }

    #[tokio::test]
    async fn answers_are_kept_once_and_the_oldest_go_past_the_bound() {
        let one =
            render_whole(Arc::new(answer(10, InstanceFilter::default())), usize::MAX).expect("whole").len();
        let cache = RenderedCache::new(2 * (one + ENTRY_OVERHEAD) + 1, one, 2);
        let first = collect(cache.body("a", answer(10, InstanceFilter::default())).await).await;
        // The same key is not rendered again: a different answer under it still gets the first.
        assert_eq!(collect(cache.body("a", answer(3, InstanceFilter::default())).await).await, first);
        collect(cache.body("b", answer(10, InstanceFilter::default())).await).await;
        collect(cache.body("c", answer(10, InstanceFilter::default())).await).await;
        // Three answers do not fit: "a" went, and is rendered anew.
        let again = collect(cache.body("a", answer(3, InstanceFilter::default())).await).await;
        assert_ne!(again, first);
    }

    #[tokio::test]
    async fn an_answer_above_the_bound_is_streamed_and_not_kept() {
        let cache = RenderedCache::new(1 << 20, 1024, 2);
        let big = collect(cache.body("big", answer(50, InstanceFilter::default())).await).await;
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&big).expect("json"),
            expected(&answer(50, InstanceFilter::default()))
        );
        assert!(cache.lock().bytes <= ENTRY_OVERHEAD, "only its marker is kept: {}", cache.lock().bytes);
        // Written anew for each caller, from the answer it is given.
        let small = collect(cache.body("big", answer(1, InstanceFilter::default())).await).await;
        assert_ne!(small, big);
    }
}
