//! In-memory timelines for all-in-one mode: a map of ordered maps behind a
//! sharded set of `std` mutexes (never held across an await, every
//! operation is a few map updates).

use crate::{Entry, Result, TimelineCache};
use async_trait::async_trait;
use model::{Id, Page, PageDirection};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

const SHARDS: usize = 16;

#[derive(Default)]
struct Timeline {
    ready: bool,
    /// post id → author id, ordered by post id (= time).
    entries: BTreeMap<Id, Id>,
}

pub struct MemoryTimelineCache {
    cap: usize,
    shards: Vec<Mutex<HashMap<Id, Timeline>>>,
}

impl MemoryTimelineCache {
    pub fn new(cap: usize) -> Self {
        MemoryTimelineCache { cap: cap.max(1), shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect() }
    }

    fn with<R>(&self, owner: Id, f: impl FnOnce(&mut HashMap<Id, Timeline>) -> R) -> R {
        let shard = &self.shards[(owner.get() as u64 % SHARDS as u64) as usize];
        f(&mut shard.lock().expect("timeline shard lock poisoned"))
    }

    fn trim(&self, t: &mut Timeline) {
        while t.entries.len() > self.cap {
            t.entries.pop_first();
        }
    }
}

#[async_trait]
impl TimelineCache for MemoryTimelineCache {
    async fn is_ready(&self, owner: Id) -> Result<bool> {
        Ok(self.with(owner, |m| m.get(&owner).is_some_and(|t| t.ready)))
    }

    async fn begin_rebuild(&self, owner: Id) -> Result<()> {
        self.with(owner, |m| {
            m.entry(owner).or_default();
        });
        Ok(())
    }

    async fn finish_rebuild(&self, owner: Id, entries: &[Entry]) -> Result<bool> {
        Ok(self.with(owner, |m| {
            let Some(t) = m.get_mut(&owner) else { return false };
            t.entries.extend(entries.iter().map(|e| (e.post_id, e.author_id)));
            t.ready = true;
            self.trim(t);
            true
        }))
    }

    async fn insert(&self, owners: &[Id], entries: &[Entry]) -> Result<()> {
        for &owner in owners {
            self.with(owner, |m| {
                if let Some(t) = m.get_mut(&owner) {
                    t.entries.extend(entries.iter().map(|e| (e.post_id, e.author_id)));
                    self.trim(t);
                }
            });
        }
        Ok(())
    }

    async fn remove_posts(&self, owners: &[Id], post_ids: &[Id]) -> Result<()> {
        for &owner in owners {
            self.with(owner, |m| {
                if let Some(t) = m.get_mut(&owner) {
                    for p in post_ids {
                        t.entries.remove(p);
                    }
                }
            });
        }
        Ok(())
    }

    async fn remove_author(&self, owner: Id, author: Id) -> Result<()> {
        self.with(owner, |m| {
            if let Some(t) = m.get_mut(&owner) {
                t.entries.retain(|_, a| *a != author);
            }
        });
        Ok(())
    }

    async fn page(&self, owner: Id, page: &Page) -> Result<Vec<Entry>> {
        Ok(self.with(owner, |m| {
            let Some(t) = m.get(&owner) else { return Vec::new() };
            let lo = page.lower().map(std::ops::Bound::Excluded).unwrap_or(std::ops::Bound::Unbounded);
            let hi = page.max_id.map(std::ops::Bound::Excluded).unwrap_or(std::ops::Bound::Unbounded);
            let range = t.entries.range((lo, hi)).map(|(&post_id, &author_id)| Entry { post_id, author_id });
            let mut out: Vec<Entry> = match page.direction() {
                PageDirection::Descending => range.rev().take(page.limit).collect(),
                PageDirection::AscendingFromMin => range.take(page.limit).collect(),
            };
            out.sort_by_key(|e| std::cmp::Reverse(e.post_id));
            out
        }))
    }

    async fn len(&self, owner: Id) -> Result<usize> {
        Ok(self.with(owner, |m| m.get(&owner).map_or(0, |t| t.entries.len())))
    }

    async fn evict(&self, owner: Id) -> Result<()> {
        self.with(owner, |m| {
            m.remove(&owner);
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn memory_cache_passes_the_contract() {
        crate::contract::run_all(|cap| async move { super::MemoryTimelineCache::new(cap) }).await;
    }
}
