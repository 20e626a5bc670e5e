//! Event handling for `timelines`. Every branch is idempotent and re-checks
//! the current state at the source, so a redelivered or late event (a
//! `follow.created` arriving after the unfollow, a `post.created` after the
//! delete) cannot resurrect what is gone.

use crate::{Celebrities, TimelinesService, authored, entry, reaches, reaches_all};
use async_trait::async_trait;
use bus::{Handler, Subscription};
use cache::Entry;
use futures::{StreamExt, TryStreamExt};
use model::{Envelope, Event, Id, Visibility};
use posts::PostRef;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::HashSet;

pub struct TimelinesHandler {
    service: TimelinesService,
    metrics: Option<HandlerMetrics>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

/// What the handler reports to `/metrics`: how long events took from the
/// commit that produced them to the end of their handling (the fan-out lag
/// for `post.created`), and how many timeline entries fan-out wrote.
#[derive(Clone)]
struct HandlerMetrics {
    lag: Family<KindLabel, Histogram>,
    inserts: Counter,
}

impl TimelinesHandler {
    pub fn new(service: TimelinesService) -> Self {
        TimelinesHandler { service, metrics: None }
    }

    /// Registers the handler's metrics under `timelines_…`.
    pub fn with_metrics(mut self, registry: &mut Registry) -> Self {
        let lag = Family::<KindLabel, Histogram>::new_with_constructor(|| {
            // 1 ms to ~25 s in steps of 1.5×: fine enough for p50/p99.
            Histogram::new(exponential_buckets(0.001, 1.5, 26))
        });
        let inserts = Counter::default();
        let sub = registry.sub_registry_with_prefix("timelines");
        sub.register("event_lag_seconds", "From the event's commit to the end of its handling", lag.clone());
        sub.register("fanout_inserts", "Timeline entries written by fan-out", inserts.clone());
        self.metrics = Some(HandlerMetrics { lag, inserts });
        self
    }

    pub fn subscription() -> Subscription {
        Subscription::new(
            TimelinesService::COMPONENT,
            &["post.*", "reblog.*", "follow.*", "block.*", "mute.*", "tag.*"],
        )
    }
}

#[async_trait]
impl Handler for TimelinesHandler {
    async fn handle(&self, envelope: &Envelope) -> anyhow::Result<()> {
        let inserted = self.apply(envelope).await?;
        if let Some(m) = &self.metrics {
            m.inserts.inc_by(inserted as u64);
            if let Some(at) = model::time_fmt::parse_rfc3339_millis(&envelope.occurred_at) {
                let lag = (model::time_fmt::now_millis() - at).max(0) as f64 / 1000.0;
                m.lag.get_or_create(&KindLabel { kind: envelope.kind() }).observe(lag);
            }
        }
        Ok(())
    }
}

/// How a new post reaches the author's followers.
enum Strategy {
    /// Written to each follower's timeline (the followers, fetched).
    FanOut(Vec<Id>),
    /// Read from the author's list by each follower's home reads.
    Pull,
}

impl TimelinesHandler {
    /// Decides how `author`'s new post reaches followers, moving the author
    /// between the strategies when the follower count crossed the
    /// threshold. Joining the pull path adds the author to the shared set
    /// *before* fan-out stops, so readers pull from then on; leaving it
    /// removes the author first and then evicts the followers' timelines,
    /// which lack the posts made while pulled: their next read rebuilds
    /// them from the store, complete.
    async fn strategy(&self, author: Id) -> anyhow::Result<Strategy> {
        let s = &self.service;
        let Some(c) = &s.celebrities else { return Ok(Strategy::FanOut(s.users.follower_ids(author).await?)) };
        if c.members().await?.contains(&author) {
            let count = s.users.accounts(&[author]).await?.first().map_or(0, |a| a.followers_count);
            if c.stays(count) {
                return Ok(Strategy::Pull);
            }
            c.set.set_remove(Celebrities::KEY, &author.to_string()).await?;
            let followers = s.users.follower_ids(author).await?;
            tracing::info!(%author, followers = followers.len(), "account left the celebrity pull path; evicting its followers' timelines");
            futures::stream::iter(followers.clone().into_iter().map(|f| s.cache.evict(f)))
                .buffer_unordered(32)
                .try_collect::<Vec<()>>()
                .await?;
            return Ok(Strategy::FanOut(followers));
        }
        let followers = s.users.follower_ids(author).await?;
        if followers.len() as u64 > c.threshold {
            c.set.set_add(Celebrities::KEY, &author.to_string()).await?;
            tracing::info!(%author, followers = followers.len(), "account joined the celebrity pull path");
            return Ok(Strategy::Pull);
        }
        Ok(Strategy::FanOut(followers))
    }

    /// Adds post (or boost) `p` to the timelines it reaches — and, for a
    /// public post, to the homes of those who follow one of its `tags` —;
    /// returns how many home timelines were written.
    async fn fan_out(&self, p: &PostRef, tags: &[String]) -> anyhow::Result<usize> {
        let s = &self.service;
        if s.posts.get(p.post_id).await?.is_none() {
            return Ok(0); // deleted before we got to it
        }
        let mut owners = vec![p.author_id];
        if reaches_all(p) {
            // The author's list of recent posts (skipped unless a reader
            // has pulled it since it last expired).
            owners.push(authored(p.author_id));
        }
        let followers = match self.strategy(p.author_id).await? {
            Strategy::FanOut(followers) => Some(followers),
            // Replies to a third party reach only those who follow both,
            // so they are fanned out even for celebrities.
            Strategy::Pull if !reaches_all(p) => Some(s.users.follower_ids(p.author_id).await?),
            Strategy::Pull => None,
        };
        if let Some(followers) = followers {
            // For a reply to a third party, only those who follow both see it.
            let also_follow: Option<HashSet<Id>> = match p.in_reply_to_account_id {
                Some(r) if r != p.author_id => Some(s.users.follower_ids(r).await?.into_iter().collect()),
                _ => None,
            };
            owners.extend(
                followers
                    .into_iter()
                    .filter(|&f| reaches(f, p, |_| also_follow.as_ref().is_some_and(|set| set.contains(&f)))),
            );
        }
        if !tags.is_empty() {
            // As Mastodon's `deliver_to_hashtag_followers`: the post reaches
            // them whether or not they follow its author.
            owners.extend(s.posts.tag_followers(tags).await?);
            owners.sort_unstable();
            owners.dedup();
        }
        // Nothing for those who block or mute the author (or the boosted
        // post's author), or whom they block, or who hide the booster's boosts.
        let unreached: HashSet<Id> = s.users.unreached(p.author_id, p.reblog_author).await?.into_iter().collect();
        if !unreached.is_empty() {
            owners.retain(|o| o.get() < 0 || *o == p.author_id || !unreached.contains(o));
        }
        s.cache.insert(&owners, &[entry(p)]).await?;
        tracing::debug!(post = %p.post_id, owners = owners.len(), "fanned out");
        // Home timelines written (not the author's list).
        Ok(owners.iter().filter(|o| o.get() > 0).count())
    }

    /// Applies one event; returns how many timeline entries fan-out wrote.
    async fn apply(&self, envelope: &Envelope) -> anyhow::Result<usize> {
        let s = &self.service;
        let mut inserted = 0;
        match &envelope.event {
            Event::PostCreated { post_id, author_id, in_reply_to_account_id, visibility, mentions, tags } => {
                let p = PostRef {
                    post_id: *post_id,
                    author_id: *author_id,
                    in_reply_to_account_id: *in_reply_to_account_id,
                    reblog_of: None,
                    reblog_author: None,
                    direct_to: (*visibility == Visibility::Direct).then(|| mentions.clone()),
                };
                let tags: &[String] = if *visibility == Visibility::Public { tags } else { &[] };
                inserted = self.fan_out(&p, tags).await?;
            }
            Event::ReblogCreated { post_id, author_id, reblog_of_id, original_author_id, .. } => {
                // Fanned out as the booster's post; readers thin repeats.
                let p = PostRef {
                    post_id: *post_id,
                    author_id: *author_id,
                    in_reply_to_account_id: None,
                    reblog_of: Some(*reblog_of_id),
                    reblog_author: Some(*original_author_id),
                    direct_to: None,
                };
                inserted = self.fan_out(&p, &[]).await?;
            }
            Event::PostDeleted { post_id, author_id, tags } => {
                // Followers too when the author is a celebrity now: the post
                // may have been fanned out before; and those who follow
                // one of its tags.
                let mut owners = s.users.follower_ids(*author_id).await?;
                owners.extend([*author_id, authored(*author_id)]);
                if !tags.is_empty() {
                    owners.extend(s.posts.tag_followers(tags).await?);
                }
                s.cache.remove_posts(&owners, &[*post_id]).await?;
            }
            Event::FollowCreated { follower_id, followee_id } => {
                if !s.users.is_following(*follower_id, *followee_id).await? {
                    return Ok(0); // unfollowed since
                }
                let (following, filters) = s.follows_and_filters(*follower_id).await?;
                // The followee's own posts, and (now that the follower
                // follows the person replied to) replies to the followee by
                // accounts the follower already follows: what a rebuild
                // would produce.
                let own = s.posts.recent_by_authors(&[*followee_id], None, s.cap).await?;
                let others: Vec<Id> = following.iter().copied().filter(|a| a != followee_id).collect();
                let replies = s.posts.replies_to(*followee_id, &others, s.cap).await?;
                // Each list was cut at `cap`: below its oldest entry the
                // copy is not complete.
                let cut = |l: &Vec<PostRef>| if l.len() >= s.cap { l.last().map(|p| p.post_id) } else { None };
                let floor = cut(&own).max(cut(&replies));
                let entries: Vec<Entry> = own
                    .into_iter()
                    .filter(|p| reaches(*follower_id, p, |a| following.contains(&a)))
                    .chain(replies)
                    .map(|p| entry(&p))
                    .filter(|e| filters.admits(*follower_id, e))
                    .collect();
                s.cache.backfill(*follower_id, &entries, floor).await?;
                inserted = entries.len();
            }
            Event::FollowRemoved { follower_id, followee_id } => {
                if s.users.is_following(*follower_id, *followee_id).await? {
                    return Ok(0); // followed again since
                }
                let one = model::Page { max_id: None, since_id: None, min_id: None, limit: 1 };
                if !s.posts.followed_tags(*follower_id, &one).await?.is_empty() {
                    // Some of the followee's posts may be there by a followed
                    // tag: which is for a rebuild to tell.
                    s.cache.evict(*follower_id).await?;
                    return Ok(0);
                }
                s.cache.remove_author(*follower_id, *followee_id).await?;
                // Replies to the unfollowed account by others no longer qualify.
                let others: Vec<Id> = s.users.following_ids(*follower_id).await?;
                let replies: Vec<Id> =
                    s.posts.replies_to(*followee_id, &others, s.cap).await?.into_iter().map(|p| p.post_id).collect();
                s.cache.remove_posts(&[*follower_id], &replies).await?;
            }
            // What the account kept out while it blocked or muted, or hid
            // boosts, is missing from its timeline (fan-out skipped it):
            // the next read rebuilds it complete. Blocking the other way
            // ends the same for the target.
            Event::BlockRemoved { account_id, target_id } => {
                s.cache.evict(*account_id).await?;
                s.cache.evict(*target_id).await?;
            }
            Event::MuteRemoved { account_id, .. } => s.cache.evict(*account_id).await?,
            // A followed tag brings its older posts, an unfollowed one takes
            // its posts away: the next read rebuilds the home with them.
            Event::TagFollowed { account_id, .. } | Event::TagUnfollowed { account_id, .. } => {
                s.cache.evict(*account_id).await?
            }
            Event::FollowUpdated { follower_id, show_reblogs: true, .. } => s.cache.evict(*follower_id).await?,
            // Reads hide at once what a new block or mute keeps out.
            Event::BlockCreated { .. } | Event::MuteCreated { .. } | Event::FollowUpdated { .. } => {}
            Event::AccountCreated { .. }
            | Event::FavouriteCreated { .. }
            | Event::FavouriteRemoved { .. }
            | Event::FollowRequestCreated { .. }
            | Event::PollEnded { .. }
            // Timelines hold ids; an edit reaches readers through the post's record.
            | Event::PostUpdated { .. } => {}
        }
        Ok(inserted)
    }
}
