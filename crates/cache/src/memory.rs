//! In-memory timelines for all-in-one mode: a map of ordered maps behind a
//! sharded set of `std` mutexes (never held across an await, every
//! operation is a few map updates).

use crate::{Entry, Result, TimelineCache};
use async_trait::async_trait;
use model::{Id, Page, PageDirection};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

const SHARDS: usize = 16;

struct Timeline {
    ready: bool,
    /// post id → its entry, ordered by post id (= time).
    entries: BTreeMap<Id, Entry>,
    /// Gone after this: set by rebuilds and reads, never by fan-out, so
    /// an account that stops reading stops receiving fan-out.
    expires: Instant,
}

pub struct MemoryTimelineCache {
    cap: usize,
    idle: Duration,
    shards: Vec<Mutex<HashMap<Id, Timeline>>>,
}

impl MemoryTimelineCache {
    pub fn new(cap: usize) -> Self {
        Self::with_idle_expiry(cap, crate::DEFAULT_IDLE_EXPIRY)
    }

    /// A timeline not read for `idle` is dropped (see [`TimelineCache`]).
    pub fn with_idle_expiry(cap: usize, idle: Duration) -> Self {
        MemoryTimelineCache { cap: cap.max(1), idle, shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect() }
    }

    /// Runs `f` on the shard holding `owner`, after dropping `owner`'s
    /// timeline if it has expired, so every operation sees it as absent.
    fn with<R>(&self, owner: Id, f: impl FnOnce(&mut HashMap<Id, Timeline>) -> R) -> R {
        let shard = &self.shards[(owner.get() as u64 % SHARDS as u64) as usize];
        let mut m = shard.lock().expect("timeline shard lock poisoned");
        let now = Instant::now();
        if m.get(&owner).is_some_and(|t| t.expires <= now) {
            m.remove(&owner);
        }
        // Now and then sweep the shard, so timelines nobody touches again
        // do not stay in memory.
        if m.len() > 1024 && owner.get() % 64 == 0 {
            m.retain(|_, t| t.expires > now);
        }
        f(&mut m)
    }

    fn fresh(&self) -> Instant {
        Instant::now() + self.idle
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
        let expires = self.fresh();
        self.with(owner, |m| {
            m.entry(owner).or_insert_with(|| Timeline { ready: false, entries: BTreeMap::new(), expires });
        });
        Ok(())
    }

    async fn finish_rebuild(&self, owner: Id, entries: &[Entry]) -> Result<bool> {
        let expires = self.fresh();
        Ok(self.with(owner, |m| {
            let Some(t) = m.get_mut(&owner) else { return false };
            t.entries.extend(entries.iter().map(|e| (e.post_id, *e)));
            t.ready = true;
            t.expires = expires;
            self.trim(t);
            true
        }))
    }

    async fn insert(&self, owners: &[Id], entries: &[Entry]) -> Result<()> {
        for &owner in owners {
            self.with(owner, |m| {
                if let Some(t) = m.get_mut(&owner) {
                    t.entries.extend(entries.iter().map(|e| (e.post_id, *e)));
                    self.trim(t);
                }
            });
        }
        Ok(())
    }

    async fn backfill(&self, owner: Id, entries: &[Entry], floor: Option<Id>) -> Result<()> {
        self.with(owner, |m| {
            let Some(t) = m.get_mut(&owner) else { return };
            if !t.ready {
                m.remove(&owner);
                return;
            }
            let end = Entry::END.post_id;
            // Below `from` the timeline cannot vouch for what it holds.
            let held_from = if t.entries.contains_key(&end) {
                None
            } else {
                match t.entries.first_key_value() {
                    Some((oldest, _)) => Some(*oldest),
                    None => return, // holds nothing it can vouch for
                }
            };
            let from = held_from.max(floor);
            t.entries.extend(entries.iter().filter(|e| from.is_none_or(|f| e.post_id >= f)).map(|e| (e.post_id, *e)));
            if let Some(f) = from {
                t.entries.retain(|post, _| *post >= f);
            }
            self.trim(t);
        });
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
                t.entries.retain(|_, e| e.author_id != author);
            }
        });
        Ok(())
    }

    async fn page(&self, owner: Id, page: &Page) -> Result<Vec<Entry>> {
        let expires = self.fresh();
        Ok(self.with(owner, |m| {
            let Some(t) = m.get_mut(&owner) else { return Vec::new() };
            t.expires = expires;
            let lo = page.lower().map(std::ops::Bound::Excluded).unwrap_or(std::ops::Bound::Unbounded);
            let hi = page.max_id.map(std::ops::Bound::Excluded).unwrap_or(std::ops::Bound::Unbounded);
            let range = t.entries.range((lo, hi)).map(|(_, e)| *e);
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
        let idle = std::time::Duration::from_millis(400);
        crate::contract::unread_timelines_expire_and_fan_out_does_not_renew(
            &super::MemoryTimelineCache::with_idle_expiry(800, idle),
        )
        .await;
    }
}
