//! The contract every [`TimelineCache`] adapter passes. `make(cap)` returns
//! a fresh, isolated cache holding at most `cap` entries per timeline.

use crate::{Entry, TimelineCache};
use model::{Id, Page};
use std::future::Future;

fn e(post: i64, author: i64) -> Entry {
    Entry::post(Id::from_i64(post), Id::from_i64(author))
}
fn boost(post: i64, of: i64, booster: i64) -> Entry {
    // The boosted post's author: a number of its own, to tell it apart.
    Entry::boost(Id::from_i64(post), Id::from_i64(booster), Id::from_i64(of), Id::from_i64(of + 1000))
}
fn id(n: i64) -> Id {
    Id::from_i64(n)
}
fn posts(v: Vec<Entry>) -> Vec<i64> {
    v.into_iter().map(|e| e.post_id.get()).collect()
}

/// A timeline built the way `timelines` builds one.
async fn build<C: TimelineCache>(c: &C, owner: Id, entries: &[Entry]) {
    c.begin_rebuild(owner).await.unwrap();
    assert!(c.finish_rebuild(owner, entries).await.unwrap());
}

pub async fn run_all<C: TimelineCache, F, Fut>(make: F)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = C>,
{
    absent_timelines_skip_fan_out(&make(800).await).await;
    rebuild_merges_with_concurrent_fan_out(&make(800).await).await;
    operations_are_idempotent(&make(800).await).await;
    timelines_are_capped_keeping_the_newest(&make(5).await).await;
    pages_are_keyset_and_newest_first(&make(800).await).await;
    unfollow_and_delete_remove_entries(&make(800).await).await;
    real_ids_minted_in_one_millisecond_keep_their_order(&make(800).await).await;
    a_rebuild_interrupted_by_eviction_stays_absent(&make(800).await).await;
    the_end_marker_sorts_last_and_is_trimmed_first(&make(3).await).await;
    author_lists_live_under_negative_owners(&make(800).await).await;
    backfill_never_leaves_a_hole(&make(6).await).await;
    fan_out_to_many_timelines_writes_each_present_one(&make(3).await).await;
    boosts_keep_what_they_boost(&make(800).await).await;
}

/// A boost comes back with the post it boosts, through every way in, and
/// leaves with its booster's entries on an unfollow.
pub async fn boosts_keep_what_they_boost<C: TimelineCache>(c: &C) {
    let owner = id(1);
    build(c, owner, &[e(10, 2), boost(20, 10, 3)]).await;
    c.insert(&[owner], &[boost(30, 10, 4)]).await.unwrap();
    c.backfill(owner, &[boost(25, 7, 12)], None).await.unwrap();
    let page = Page { max_id: None, since_id: None, min_id: None, limit: 10 };
    assert_eq!(
        c.page(owner, &page).await.unwrap(),
        vec![boost(30, 10, 4), boost(25, 7, 12), boost(20, 10, 3), e(10, 2)]
    );
    // Author 2 is not booster 12, nor the author of what 12 boosted.
    c.remove_author(owner, id(2)).await.unwrap();
    c.remove_author(owner, id(3)).await.unwrap();
    assert_eq!(c.page(owner, &page).await.unwrap(), vec![boost(30, 10, 4), boost(25, 7, 12)]);
    c.remove_posts(&[owner], &[id(30)]).await.unwrap();
    assert_eq!(posts(c.page(owner, &page).await.unwrap()), vec![25]);
}

/// A fan-out wide enough to span several of an adapter's batches writes
/// every present timeline, skips the absent ones, and trims each.
pub async fn fan_out_to_many_timelines_writes_each_present_one<C: TimelineCache>(c: &C) {
    let owners: Vec<Id> = (1..=600).map(id).collect();
    for &o in owners.iter().filter(|o| o.get() % 3 != 0) {
        build(c, o, &[e(1, 9), e(2, 9), e(3, 9)]).await;
    }
    c.insert(&owners, &[e(10, 7), e(11, 7)]).await.unwrap();
    for &o in &owners {
        let got = posts(c.page(o, &Page::first(10)).await.unwrap());
        if o.get() % 3 == 0 {
            assert!(got.is_empty(), "absent timeline {o} was written");
        } else {
            assert_eq!(got, vec![11, 10, 3], "timeline {o}");
        }
    }
}

/// Older entries join a timeline only where it can vouch for its content.
pub async fn backfill_never_leaves_a_hole<C: TimelineCache>(c: &C) {
    let all = |o: i64| async move { posts(c.page(id(o), &Page::first(40)).await.unwrap()) };
    // Complete: everything joins.
    build(c, id(1), &[e(10, 2), e(20, 2), Entry::END]).await;
    c.backfill(id(1), &[e(5, 3), e(15, 3)], None).await.unwrap();
    assert_eq!(all(1).await, vec![20, 15, 10, 5, 0]);
    // Only the newest of the followee's posts (complete from 12 up): the
    // timeline keeps nothing below 12, and is no longer complete.
    c.backfill(id(1), &[e(30, 4), e(12, 4)], Some(id(12))).await.unwrap();
    assert_eq!(all(1).await, vec![30, 20, 15, 12]);
    // Incomplete (trimmed): entries older than its oldest stay out.
    c.backfill(id(1), &[e(3, 5), e(13, 5), e(25, 5)], None).await.unwrap();
    assert_eq!(all(1).await, vec![30, 25, 20, 15, 13, 12]);
    // Trimmed at the cap of 6, oldest first.
    c.backfill(id(1), &[e(40, 5)], None).await.unwrap();
    assert_eq!(all(1).await, vec![40, 30, 25, 20, 15, 13]);
    // Absent: skipped. Present but empty and incomplete: nothing to vouch from.
    c.backfill(id(2), &[e(10, 2)], None).await.unwrap();
    assert_eq!(c.len(id(2)).await.unwrap(), 0);
    build(c, id(3), &[]).await;
    c.backfill(id(3), &[e(10, 2)], None).await.unwrap();
    assert_eq!(c.len(id(3)).await.unwrap(), 0);
    // Mid-rebuild: the rebuild is abandoned, so it cannot hide the entries.
    c.begin_rebuild(id(4)).await.unwrap();
    c.backfill(id(4), &[e(10, 2)], None).await.unwrap();
    assert!(!c.finish_rebuild(id(4), &[e(20, 2)]).await.unwrap(), "the rebuild must start over");
    assert!(!c.is_ready(id(4)).await.unwrap());
}

/// [`Entry::END`] is an entry like any other, below every post: pages end
/// with it, and the first trim at the cap drops it.
pub async fn the_end_marker_sorts_last_and_is_trimmed_first<C: TimelineCache>(c: &C) {
    build(c, id(1), &[e(10, 2), Entry::END, e(20, 2)]).await;
    assert_eq!(posts(c.page(id(1), &Page::first(10)).await.unwrap()), vec![20, 10, 0]);
    assert_eq!(posts(c.page(id(1), &Page::first(2)).await.unwrap()), vec![20, 10]);
    let below_10 = Page { max_id: Some(id(10)), ..Page::first(5) };
    assert_eq!(c.page(id(1), &below_10).await.unwrap(), vec![Entry::END]);
    let since_5 = Page { since_id: Some(id(5)), ..Page::first(5) };
    assert_eq!(posts(c.page(id(1), &since_5).await.unwrap()), vec![20, 10]);
    c.insert(&[id(1)], &[e(30, 2)]).await.unwrap();
    assert_eq!(posts(c.page(id(1), &Page::first(10)).await.unwrap()), vec![30, 20, 10], "trimmed at 3");
}

/// `timelines` keeps an author's recent posts under the author's id
/// negated; keys and shards must take negative ids.
pub async fn author_lists_live_under_negative_owners<C: TimelineCache>(c: &C) {
    build(c, id(-7), &[e(10, 7), e(11, 7)]).await;
    build(c, id(7), &[e(12, 8)]).await;
    c.insert(&[id(-7), id(7)], &[e(13, 7)]).await.unwrap();
    assert_eq!(posts(c.page(id(-7), &Page::first(10)).await.unwrap()), vec![13, 11, 10]);
    assert_eq!(posts(c.page(id(7), &Page::first(10)).await.unwrap()), vec![13, 12]);
    c.evict(id(-7)).await.unwrap();
    assert!(!c.is_ready(id(-7)).await.unwrap());
    assert!(c.is_ready(id(7)).await.unwrap());
}

/// `c` must expire timelines after 400 ms without a read. Reads renew the
/// expiry, fan-out does not; an expired timeline is absent (fan-out skips
/// it) until a rebuild. Real (short) sleeps: Redis keeps its own time.
pub async fn unread_timelines_expire_and_fan_out_does_not_renew<C: TimelineCache>(c: &C) {
    use std::time::Duration;
    let nap = || tokio::time::sleep(Duration::from_millis(250));
    build(c, id(1), &[e(10, 2)]).await;
    nap().await;
    assert_eq!(posts(c.page(id(1), &Page::first(10)).await.unwrap()), vec![10]);
    nap().await; // 500 ms after the rebuild, 250 after the read
    assert!(c.is_ready(id(1)).await.unwrap(), "a read did not renew the expiry");
    c.insert(&[id(1)], &[e(20, 2)]).await.unwrap();
    nap().await; // 500 ms after the last read; the fan-out must not count
    assert!(!c.is_ready(id(1)).await.unwrap(), "an unread timeline did not expire");
    assert_eq!(c.len(id(1)).await.unwrap(), 0);
    c.insert(&[id(1)], &[e(30, 2)]).await.unwrap();
    assert_eq!(c.len(id(1)).await.unwrap(), 0, "fan-out wrote to an expired timeline");
    build(c, id(1), &[e(10, 2), e(20, 2)]).await;
    assert_eq!(posts(c.page(id(1), &Page::first(10)).await.unwrap()), vec![20, 10]);
}

/// Evicted (or flushed) while rebuilding: fan-out skipped the timeline
/// meanwhile, so finishing must not mark it ready with posts missing.
pub async fn a_rebuild_interrupted_by_eviction_stays_absent<C: TimelineCache>(c: &C) {
    c.begin_rebuild(id(1)).await.unwrap();
    c.evict(id(1)).await.unwrap();
    c.insert(&[id(1)], &[e(30, 2)]).await.unwrap(); // skipped: absent
    assert!(!c.finish_rebuild(id(1), &[e(10, 2)]).await.unwrap());
    assert!(!c.is_ready(id(1)).await.unwrap());
    assert_eq!(c.len(id(1)).await.unwrap(), 0);
}

pub async fn absent_timelines_skip_fan_out<C: TimelineCache>(c: &C) {
    c.insert(&[id(1)], &[e(10, 2)]).await.unwrap();
    assert_eq!(c.len(id(1)).await.unwrap(), 0);
    assert!(!c.is_ready(id(1)).await.unwrap());
}

pub async fn rebuild_merges_with_concurrent_fan_out<C: TimelineCache>(c: &C) {
    c.begin_rebuild(id(1)).await.unwrap();
    assert!(!c.is_ready(id(1)).await.unwrap());
    // A post fanned out while the rebuild was reading its sources.
    c.insert(&[id(1)], &[e(30, 2)]).await.unwrap();
    assert!(c.finish_rebuild(id(1), &[e(10, 2), e(20, 3)]).await.unwrap());
    assert!(c.is_ready(id(1)).await.unwrap());
    assert_eq!(posts(c.page(id(1), &Page::first(20)).await.unwrap()), vec![30, 20, 10]);
}

pub async fn operations_are_idempotent<C: TimelineCache>(c: &C) {
    build(c, id(1), &[]).await;
    for _ in 0..2 {
        c.insert(&[id(1)], &[e(10, 2), e(11, 2)]).await.unwrap();
    }
    assert_eq!(c.len(id(1)).await.unwrap(), 2);
    for _ in 0..2 {
        c.remove_posts(&[id(1)], &[id(10)]).await.unwrap();
    }
    assert_eq!(posts(c.page(id(1), &Page::first(20)).await.unwrap()), vec![11]);
}

pub async fn timelines_are_capped_keeping_the_newest<C: TimelineCache>(c: &C) {
    build(c, id(1), &(1..=4).map(|p| e(p, 9)).collect::<Vec<_>>()).await;
    c.insert(&[id(1)], &(5..=8).map(|p| e(p, 9)).collect::<Vec<_>>()).await.unwrap();
    assert_eq!(c.len(id(1)).await.unwrap(), 5);
    assert_eq!(posts(c.page(id(1), &Page::first(20)).await.unwrap()), vec![8, 7, 6, 5, 4]);
}

pub async fn pages_are_keyset_and_newest_first<C: TimelineCache>(c: &C) {
    build(c, id(1), &(1..=10).map(|p| e(p, 9)).collect::<Vec<_>>()).await;
    let p = Page::first(3);
    assert_eq!(posts(c.page(id(1), &p).await.unwrap()), vec![10, 9, 8]);
    let older = Page { max_id: Some(id(8)), ..p };
    assert_eq!(posts(c.page(id(1), &older).await.unwrap()), vec![7, 6, 5]);
    let newer = Page { min_id: Some(id(5)), ..p };
    assert_eq!(posts(c.page(id(1), &newer).await.unwrap()), vec![8, 7, 6]);
    let since = Page { since_id: Some(id(5)), ..p };
    assert_eq!(posts(c.page(id(1), &since).await.unwrap()), vec![10, 9, 8]);
    assert!(c.page(id(2), &p).await.unwrap().is_empty());
}

pub async fn unfollow_and_delete_remove_entries<C: TimelineCache>(c: &C) {
    build(c, id(1), &[e(1, 2), e(2, 3), e(3, 2)]).await;
    build(c, id(4), &[e(1, 2)]).await;
    c.remove_author(id(1), id(2)).await.unwrap();
    assert_eq!(posts(c.page(id(1), &Page::first(20)).await.unwrap()), vec![2]);
    c.remove_posts(&[id(4)], &[id(1)]).await.unwrap();
    assert_eq!(c.len(id(4)).await.unwrap(), 0);
    assert!(c.is_ready(id(4)).await.unwrap(), "an emptied timeline is still a built one");
    c.evict(id(4)).await.unwrap();
    assert!(!c.is_ready(id(4)).await.unwrap());
}

/// Real ids are ~2^58 and differ in their low bits within a millisecond;
/// an adapter that squeezed them through a double would merge or misorder
/// them.
pub async fn real_ids_minted_in_one_millisecond_keep_their_order<C: TimelineCache>(c: &C) {
    let base = 384_035_377_322_655_744_i64;
    let all: Vec<Entry> = (1..=6).map(|d| e(base + d, 7)).collect();
    build(c, id(1), &all).await;
    assert_eq!(c.len(id(1)).await.unwrap(), 6);
    let first = posts(c.page(id(1), &Page::first(3)).await.unwrap());
    assert_eq!(first, vec![base + 6, base + 5, base + 4]);
    let next = Page { max_id: Some(id(base + 4)), ..Page::first(3) };
    assert_eq!(posts(c.page(id(1), &next).await.unwrap()), vec![base + 3, base + 2, base + 1]);
    c.remove_posts(&[id(1)], &[id(base + 5)]).await.unwrap();
    assert_eq!(posts(c.page(id(1), &Page::first(3)).await.unwrap()), vec![base + 6, base + 4, base + 3]);
}
