//! Read-through caching of records by id, kept current by their owner.
//!
//! A home page needs twenty posts, their authors and the authors' post
//! counters; reading them from the owning components' databases on every
//! page is most of a page's cost. [`RecordCache`] keeps them in the shared
//! state (memory all-in-one, Redis in split mode, so one instance's fill
//! serves every instance):
//!
//! * readers ([`RecordCache::read_through`]) take what is cached and load
//!   the rest from the owner, then *fill* it only where nothing is cached;
//! * the owner, after committing a change, *stores* the new record or a
//!   tombstone for a deleted one ([`RecordCache::store`],
//!   [`RecordCache::forget`]), replacing what is there.
//!
//! Because fills never replace, a reader that loaded a record before a
//! change cannot overwrite the owner's newer value: the cache is exactly
//! as current as the last committed write, except when two writes to one
//! record race and their stores land in the opposite order; the TTL bounds
//! that. The cache is an accelerator only: when it fails, reads go to the
//! owner and the failure is logged.

use crate::SharedState;
use model::Id;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

/// A cached tombstone: the record was deleted. Empty, so no record encodes to it.
const GONE: &[u8] = b"";

pub struct RecordCache<T> {
    space: Space,
    id_of: fn(&T) -> Id,
    _records: PhantomData<fn() -> T>,
}

impl<T> Clone for RecordCache<T> {
    fn clone(&self) -> Self {
        RecordCache { space: self.space.clone(), id_of: self.id_of, _records: PhantomData }
    }
}

/// One kind's keys in the shared state, and what reading and filling them
/// does when the cache fails (log, count, and carry on from the owner):
/// shared by [`RecordCache`] and [`VersionedValues`].
#[derive(Clone)]
struct Space {
    shared: Arc<dyn SharedState>,
    kind: &'static str,
    ttl: Duration,
    metrics: Option<RecordMetrics>,
}

impl Space {
    fn key(&self, name: impl std::fmt::Display) -> String {
        format!("rec:{}:{name}", self.kind)
    }

    /// The values under `keys`; all absent when the cache fails.
    async fn fetch(&self, keys: &[String]) -> Vec<Option<Vec<u8>>> {
        match self.shared.get_many(keys).await {
            Ok(values) => values,
            Err(e) => {
                tracing::warn!(kind = self.kind, error = %e, "record cache unavailable; reading from the owner");
                self.error();
                vec![None; keys.len()]
            }
        }
    }

    /// Stores `entries` where nothing is cached (readers' fills).
    async fn fill(&self, entries: &[(String, Vec<u8>)]) {
        if let Err(e) = self.shared.set_many(entries, self.ttl, true).await {
            tracing::warn!(kind = self.kind, error = %e, "record cache unavailable; values not cached");
            self.error();
        }
    }

    fn count(&self, outcome: &'static str, n: usize) {
        if let Some(m) = &self.metrics {
            m.lookups(self.kind, outcome, n);
        }
    }

    fn error(&self) {
        if let Some(m) = &self.metrics {
            m.error(self.kind);
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LookupLabel {
    kind: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

/// What readers report to `/metrics`: `record_cache_lookups_total` by
/// kind and outcome (`hit`, `gone` for a cached deletion, `miss`), and
/// `record_cache_errors_total` by kind (reads and fills the cache refused;
/// those reads went to the owner). A low hit ratio says the TTL is short
/// for the traffic, or Redis is evicting.
#[derive(Clone)]
pub struct RecordMetrics {
    lookups: Family<LookupLabel, Counter>,
    errors: Family<KindLabel, Counter>,
}

impl RecordMetrics {
    /// Registers the metrics once per process; every reader shares them.
    pub fn register(registry: &mut Registry) -> Self {
        let (lookups, errors) = (Family::default(), Family::default());
        let sub = registry.sub_registry_with_prefix("record_cache");
        sub.register("lookups", "Records looked up in the record cache, by outcome", lookups.clone());
        sub.register("errors", "Record cache reads and fills that failed (served by the owner)", errors.clone());
        RecordMetrics { lookups, errors }
    }

    fn lookups(&self, kind: &'static str, outcome: &'static str, n: usize) {
        if n > 0 {
            self.lookups.get_or_create(&LookupLabel { kind, outcome }).inc_by(n as u64);
        }
    }

    fn error(&self, kind: &'static str) {
        self.errors.get_or_create(&KindLabel { kind }).inc();
    }
}

impl<T: Serialize + DeserializeOwned> RecordCache<T> {
    /// Records of one `kind` (a key namespace: `post`, `account`…), each
    /// kept `ttl` after it was last written; `id_of` gives a record's key.
    pub fn new(shared: Arc<dyn SharedState>, kind: &'static str, ttl: Duration, id_of: fn(&T) -> Id) -> Self {
        RecordCache { space: Space { shared, kind, ttl, metrics: None }, id_of, _records: PhantomData }
    }

    /// Counts this reader's lookups in `metrics`.
    pub fn with_metrics(mut self, metrics: RecordMetrics) -> Self {
        self.space.metrics = Some(metrics);
        self
    }

    fn key(&self, id: Id) -> String {
        self.space.key(id.get())
    }

    /// The records for `ids` that exist (in no particular order): cached
    /// ones from the cache, the others from `load`, which is called once
    /// with the ids that missed (and not at all if none did). Deleted
    /// records known to the cache are absent without asking `load`.
    pub async fn read_through<E, F, Fut>(&self, ids: &[Id], load: F) -> Result<Vec<T>, E>
    where
        F: FnOnce(Vec<Id>) -> Fut,
        Fut: Future<Output = Result<Vec<T>, E>>,
    {
        let unique: Vec<Id> = {
            let mut seen = HashSet::with_capacity(ids.len());
            ids.iter().copied().filter(|id| seen.insert(*id)).collect()
        };
        if unique.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = unique.iter().map(|&id| self.key(id)).collect();
        let cached = self.space.fetch(&keys).await;
        let mut found = Vec::with_capacity(unique.len());
        let mut missing = Vec::new();
        let mut gone = 0;
        for (&id, value) in unique.iter().zip(cached) {
            match value {
                Some(v) if v == GONE => gone += 1,
                Some(v) => match serde_json::from_slice(&v) {
                    Ok(record) => found.push(record),
                    // Written by another version: load it and let the owner's
                    // next write (or the TTL) replace it.
                    Err(_) => missing.push(id),
                },
                None => missing.push(id),
            }
        }
        self.space.count("hit", found.len());
        self.space.count("gone", gone);
        self.space.count("miss", missing.len());
        if missing.is_empty() {
            return Ok(found);
        }
        let loaded = load(missing).await?;
        let fills: Vec<(String, Vec<u8>)> = loaded.iter().filter_map(|r| self.entry(r)).collect();
        self.space.fill(&fills).await;
        found.extend(loaded);
        Ok(found)
    }

    fn entry(&self, record: &T) -> Option<(String, Vec<u8>)> {
        serde_json::to_vec(record).ok().map(|v| (self.key((self.id_of)(record)), v))
    }

    /// The owner, after committing: these are the records now.
    pub async fn store(&self, records: &[T]) {
        let entries: Vec<(String, Vec<u8>)> = records.iter().filter_map(|r| self.entry(r)).collect();
        self.write(&entries).await;
    }

    /// The owner, after committing: these records are deleted. If the
    /// cache cannot take the tombstones now, they are retried in the
    /// background until it can or the TTL has passed (by then any cached
    /// copy has expired): a deleted post must not come back when Redis
    /// does. (Retrying is safe only for tombstones: deletion is final,
    /// while a retried record could overwrite a newer one.)
    pub async fn forget(&self, ids: &[Id]) {
        let entries: Vec<(String, Vec<u8>)> = ids.iter().map(|&id| (self.key(id), GONE.to_vec())).collect();
        if entries.is_empty() || self.write(&entries).await {
            return;
        }
        let Space { shared, ttl, kind, .. } = self.space.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + ttl;
            let mut delay = Duration::from_millis(100);
            while tokio::time::Instant::now() + delay < deadline {
                tokio::time::sleep(delay).await;
                if shared.set_many(&entries, ttl, false).await.is_ok() {
                    tracing::info!(kind, "record cache took the deletions it refused before");
                    return;
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        });
    }

    /// Replaces `entries`; whether the cache took them.
    async fn write(&self, entries: &[(String, Vec<u8>)]) -> bool {
        if entries.is_empty() {
            return true;
        }
        let Space { shared, kind, ttl, .. } = &self.space;
        match shared.set_many(entries, *ttl, false).await {
            Ok(()) => true,
            Err(e) => {
                // The change is committed; readers of this cache may see the
                // old record until its TTL.
                tracing::error!(kind, error = %e, ?ttl, "record cache not updated after a change; readers may see the old record until it expires");
                false
            }
        }
    }
}

/// Values cached under keys that name their own version — derived from
/// a record its owner keeps current (an author's post counters, say) — so
/// a key's value never changes: a change makes a new key, and the old one
/// is never read again and expires. Filling is then always safe, with no
/// owner involvement. (An author's first page of statuses is keyed by the
/// author's post count and last post time.)
pub struct VersionedValues<T> {
    space: Space,
    _values: PhantomData<fn() -> T>,
}

impl<T> Clone for VersionedValues<T> {
    fn clone(&self) -> Self {
        VersionedValues { space: self.space.clone(), _values: PhantomData }
    }
}

impl<T: Serialize + DeserializeOwned> VersionedValues<T> {
    pub fn new(shared: Arc<dyn SharedState>, kind: &'static str, ttl: Duration) -> Self {
        VersionedValues { space: Space { shared, kind, ttl, metrics: None }, _values: PhantomData }
    }

    pub fn with_metrics(mut self, metrics: RecordMetrics) -> Self {
        self.space.metrics = Some(metrics);
        self
    }

    /// The value under `version` (a key naming everything it depends on),
    /// from the cache or else from `load`, then cached.
    pub async fn read_through<E, Fut>(&self, version: &str, load: impl FnOnce() -> Fut) -> Result<T, E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let key = self.space.key(version);
        let cached = self.space.fetch(std::slice::from_ref(&key)).await;
        let cached: Option<T> = cached.into_iter().next().flatten().and_then(|v| serde_json::from_slice(&v).ok());
        self.space.count(if cached.is_some() { "hit" } else { "miss" }, 1);
        if let Some(value) = cached {
            return Ok(value);
        }
        let value = load().await?;
        if let Ok(bytes) = serde_json::to_vec(&value) {
            self.space.fill(&[(key, bytes)]).await;
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CacheError, MemorySharedState};
    use async_trait::async_trait;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicBool;
    use std::sync::atomic::Ordering::SeqCst;

    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Rec {
        id: Id,
        v: u32,
    }

    fn id(n: i64) -> Id {
        Id::from_i64(n)
    }

    fn cache(shared: Arc<dyn SharedState>) -> RecordCache<Rec> {
        RecordCache::new(shared, "rec", Duration::from_secs(60), |r: &Rec| r.id)
    }

    /// The owner's data, counting what readers ask it for.
    #[derive(Default)]
    struct Owner {
        rows: Mutex<Vec<Rec>>,
        asked: Mutex<Vec<Vec<Id>>>,
    }

    impl Owner {
        async fn load(&self, ids: Vec<Id>) -> Result<Vec<Rec>, ()> {
            self.asked.lock().unwrap().push(ids.clone());
            Ok(self.rows.lock().unwrap().iter().filter(|r| ids.contains(&r.id)).cloned().collect())
        }
        fn asked(&self) -> Vec<Vec<Id>> {
            std::mem::take(&mut self.asked.lock().unwrap())
        }
    }

    fn sorted(mut v: Vec<Rec>) -> Vec<Rec> {
        v.sort_by_key(|r| r.id);
        v
    }

    #[tokio::test]
    async fn misses_are_loaded_once_and_then_served_from_the_cache() {
        let mut registry = Registry::default();
        let c = cache(Arc::new(MemorySharedState::new())).with_metrics(RecordMetrics::register(&mut registry));
        let owner = Owner::default();
        *owner.rows.lock().unwrap() = vec![Rec { id: id(1), v: 1 }, Rec { id: id(2), v: 2 }];
        let got = c.read_through(&[id(1), id(2), id(3), id(1)], |m| owner.load(m)).await.unwrap();
        assert_eq!(sorted(got), [Rec { id: id(1), v: 1 }, Rec { id: id(2), v: 2 }]);
        assert_eq!(owner.asked(), [vec![id(1), id(2), id(3)]], "each id asked once");
        let got = c.read_through(&[id(2), id(1), id(3)], |m| owner.load(m)).await.unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(owner.asked(), [vec![id(3)]], "only the id that does not exist is asked again");
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            r#"record_cache_lookups_total{kind="rec",outcome="miss"} 4"#,
            r#"record_cache_lookups_total{kind="rec",outcome="hit"} 2"#,
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(c.read_through(&[], |m| owner.load(m)).await.unwrap().is_empty());
        assert!(owner.asked().is_empty());
    }

    #[tokio::test]
    async fn owners_writes_are_seen_at_once_and_tombstones_hide_deleted_records() {
        let shared: Arc<dyn SharedState> = Arc::new(MemorySharedState::new());
        let (reader, other_reader, writer) = (cache(shared.clone()), cache(shared.clone()), cache(shared));
        let owner = Owner::default();
        *owner.rows.lock().unwrap() = vec![Rec { id: id(1), v: 1 }, Rec { id: id(2), v: 1 }];
        reader.read_through(&[id(1), id(2)], |m| owner.load(m)).await.unwrap();
        writer.store(&[Rec { id: id(1), v: 2 }]).await;
        writer.forget(&[id(2)]).await;
        owner.asked();
        let got = other_reader.read_through(&[id(1), id(2)], |m| owner.load(m)).await.unwrap();
        assert_eq!(got, [Rec { id: id(1), v: 2 }]);
        assert!(owner.asked().is_empty(), "a tombstone answers without asking the owner");
    }

    #[tokio::test]
    async fn a_reader_that_loaded_before_a_change_does_not_overwrite_it() {
        let shared: Arc<dyn SharedState> = Arc::new(MemorySharedState::new());
        let (reader, writer) = (cache(shared.clone()), cache(shared));
        // The reader loads v1; before it fills the cache, the owner commits
        // v2 and stores it.
        let got = reader
            .read_through(&[id(1)], |_| async {
                writer.store(&[Rec { id: id(1), v: 2 }]).await;
                Ok::<_, ()>(vec![Rec { id: id(1), v: 1 }])
            })
            .await
            .unwrap();
        assert_eq!(got, [Rec { id: id(1), v: 1 }], "the reader answers with what it read");
        let later = reader.read_through(&[id(1)], |_| async { Err::<Vec<Rec>, ()>(()) }).await.unwrap();
        assert_eq!(later, [Rec { id: id(1), v: 2 }], "the cache holds the owner's value");
        // Likewise a deletion committed while a reader was loading.
        let got = reader
            .read_through(&[id(5)], |_| async {
                writer.forget(&[id(5)]).await;
                Ok::<_, ()>(vec![Rec { id: id(5), v: 1 }])
            })
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        assert!(reader.read_through(&[id(5)], |_| async { Err::<Vec<Rec>, ()>(()) }).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn versioned_values_load_once_per_version() {
        let v: VersionedValues<Vec<u32>> =
            VersionedValues::new(Arc::new(MemorySharedState::new()), "page", Duration::from_secs(60));
        let loads = Mutex::new(0);
        let load = |value: Vec<u32>| {
            let loads = &loads;
            move || async move {
                *loads.lock().unwrap() += 1;
                Ok::<_, ()>(value)
            }
        };
        assert_eq!(v.read_through("a:1", load(vec![1])).await.unwrap(), [1]);
        assert_eq!(v.read_through("a:1", load(vec![9])).await.unwrap(), [1], "cached");
        assert_eq!(v.read_through("a:2", load(vec![1, 2])).await.unwrap(), [1, 2], "a new version loads");
        assert_eq!(*loads.lock().unwrap(), 2);
    }

    /// Memory whose batch reads and writes (what the record cache uses)
    /// fail while their switch is on.
    struct Flaky {
        inner: MemorySharedState,
        reads_down: AtomicBool,
        writes_down: AtomicBool,
    }

    impl Flaky {
        fn new(reads_down: bool, writes_down: bool) -> Self {
            Flaky { inner: MemorySharedState::new(), reads_down: reads_down.into(), writes_down: writes_down.into() }
        }
    }

    #[async_trait]
    impl SharedState for Flaky {
        async fn hit(&self, k: &str, w: Duration) -> crate::Result<(u64, Duration)> {
            self.inner.hit(k, w).await
        }
        async fn hit_reading(&self, k: &str, w: Duration, p: &str) -> crate::Result<(u64, u64)> {
            self.inner.hit_reading(k, w, p).await
        }
        async fn get(&self, k: &str) -> crate::Result<Option<Vec<u8>>> {
            self.inner.get(k).await
        }
        async fn set(&self, k: &str, v: &[u8], t: Duration) -> crate::Result<()> {
            self.inner.set(k, v, t).await
        }
        async fn delete(&self, k: &str) -> crate::Result<()> {
            self.inner.delete(k).await
        }
        async fn get_many(&self, k: &[String]) -> crate::Result<Vec<Option<Vec<u8>>>> {
            if self.reads_down.load(SeqCst) {
                return Err(CacheError("down".into()));
            }
            self.inner.get_many(k).await
        }
        async fn set_many(&self, e: &[(String, Vec<u8>)], t: Duration, n: bool) -> crate::Result<()> {
            if self.writes_down.load(SeqCst) {
                return Err(CacheError("down".into()));
            }
            self.inner.set_many(e, t, n).await
        }
        async fn set_add(&self, k: &str, m: &str) -> crate::Result<bool> {
            self.inner.set_add(k, m).await
        }
        async fn set_remove(&self, k: &str, m: &str) -> crate::Result<bool> {
            self.inner.set_remove(k, m).await
        }
        async fn set_members(&self, k: &str) -> crate::Result<Vec<String>> {
            self.inner.set_members(k).await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_deletion_the_cache_refused_is_applied_when_it_comes_back() {
        let flaky = Arc::new(Flaky::new(false, false));
        let c = cache(flaky.clone());
        c.store(&[Rec { id: id(1), v: 1 }, Rec { id: id(2), v: 1 }]).await;
        flaky.writes_down.store(true, SeqCst);
        c.forget(&[id(1)]).await;
        c.store(&[Rec { id: id(2), v: 2 }]).await; // refused, not retried: a newer value may follow
        let both = [id(1), id(2)];
        let read = || c.read_through(&both, |_| async { Err::<Vec<Rec>, ()>(()) });
        assert_eq!(sorted(read().await.unwrap()).len(), 2, "while the cache refuses writes, the old records stay");
        tokio::time::sleep(Duration::from_secs(20)).await;
        flaky.writes_down.store(false, SeqCst);
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(read().await.unwrap(), [Rec { id: id(2), v: 1 }], "the deletion landed once the cache took writes");
    }

    #[tokio::test]
    async fn a_failing_cache_sends_every_read_to_the_owner() {
        let c = cache(Arc::new(Flaky::new(true, true)));
        let owner = Owner::default();
        *owner.rows.lock().unwrap() = vec![Rec { id: id(1), v: 1 }];
        c.store(&[Rec { id: id(1), v: 9 }]).await;
        assert_eq!(c.read_through(&[id(1)], |m| owner.load(m)).await.unwrap(), [Rec { id: id(1), v: 1 }]);
        assert_eq!(owner.asked(), [vec![id(1)]]);
    }
}
