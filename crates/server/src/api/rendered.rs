//! Rendered list answers, kept by `ETag`: a list of 10,000 instances is several megabytes of
//! JSON, and every client asking for the same copy with the same filters gets the same bytes, so
//! they are rendered once (off the I/O threads, once however many ask at the same moment) and
//! then served as they are. Bounded by total size; the oldest go first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use tokio::sync::OnceCell;

struct Entries {
    by_key: HashMap<String, Arc<OnceCell<Bytes>>>,
    order: VecDeque<String>,
    bytes: usize,
}

pub struct RenderedCache {
    max_bytes: usize,
    entries: Mutex<Entries>,
}

impl RenderedCache {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            entries: Mutex::new(Entries { by_key: HashMap::new(), order: VecDeque::new(), bytes: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The answer kept under `key`, rendered by `render` (on a blocking thread) if there is none.
    pub async fn get_or_render(&self, key: &str, render: impl FnOnce() -> Vec<u8> + Send + 'static) -> Bytes {
        let cell = self.lock().by_key.entry(key.to_owned()).or_default().clone();
        let mut rendered_here = false;
        let bytes = cell
            .get_or_init(|| async {
                rendered_here = true;
                tokio::task::spawn_blocking(render).await.map(Bytes::from).unwrap_or_default()
            })
            .await
            .clone();
        if rendered_here {
            let mut entries = self.lock();
            entries.order.push_back(key.to_owned());
            entries.bytes += bytes.len();
            while entries.bytes > self.max_bytes && entries.order.len() > 1 {
                let Some(oldest) = entries.order.pop_front() else { break };
                if let Some(cell) = entries.by_key.remove(&oldest) {
                    entries.bytes -= cell.get().map_or(0, Bytes::len);
                }
            }
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_are_rendered_once_and_the_oldest_go_past_the_bound() {
        let cache = RenderedCache::new(10);
        assert_eq!(cache.get_or_render("a", || b"123456".to_vec()).await, Bytes::from_static(b"123456"));
        assert_eq!(
            cache.get_or_render("a", || panic!("rendered twice")).await,
            Bytes::from_static(b"123456")
        );
        cache.get_or_render("b", || b"7890ab".to_vec()).await;
        // 12 bytes > 10: "a" went.
        assert_eq!(cache.get_or_render("a", || b"again".to_vec()).await, Bytes::from_static(b"again"));
    }
}
