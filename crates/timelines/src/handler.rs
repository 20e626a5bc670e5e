//! Event handling for `timelines`. Every branch is idempotent and re-checks
//! the current state at the source, so a redelivered or late event (a
//! `follow.created` arriving after the unfollow, a `post.created` after the
//! delete) cannot resurrect what is gone.

use crate::{TimelinesService, reaches};
use async_trait::async_trait;
use bus::{Handler, Subscription};
use cache::Entry;
use model::{Envelope, Event, Id};
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
        Subscription::new(TimelinesService::COMPONENT, &["post.*", "follow.*"])
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

impl TimelinesHandler {
    /// Applies one event; returns how many timeline entries fan-out wrote.
    async fn apply(&self, envelope: &Envelope) -> anyhow::Result<usize> {
        let s = &self.service;
        let mut inserted = 0;
        match &envelope.event {
            Event::PostCreated { post_id, author_id, in_reply_to_account_id, .. } => {
                if s.posts.get(*post_id).await?.is_none() {
                    return Ok(0); // deleted before we got to it
                }
                let p = PostRef {
                    post_id: *post_id,
                    author_id: *author_id,
                    in_reply_to_account_id: *in_reply_to_account_id,
                };
                let followers = s.users.follower_ids(*author_id).await?;
                // For a reply to a third party, only those who follow both see it.
                let also_follow: Option<HashSet<Id>> = match in_reply_to_account_id {
                    Some(r) if r != author_id => Some(s.users.follower_ids(*r).await?.into_iter().collect()),
                    _ => None,
                };
                let mut owners: Vec<Id> = followers
                    .into_iter()
                    .filter(|&f| reaches(f, &p, |_| also_follow.as_ref().is_some_and(|set| set.contains(&f))))
                    .collect();
                owners.push(*author_id);
                s.cache.insert(&owners, &[Entry { post_id: *post_id, author_id: *author_id }]).await?;
                inserted = owners.len();
                tracing::debug!(post = %post_id, owners = owners.len(), "fanned out");
            }
            Event::PostDeleted { post_id, author_id } => {
                let mut owners = s.users.follower_ids(*author_id).await?;
                owners.push(*author_id);
                s.cache.remove_posts(&owners, &[*post_id]).await?;
            }
            Event::FollowCreated { follower_id, followee_id } => {
                if !s.users.is_following(*follower_id, *followee_id).await? {
                    return Ok(0); // unfollowed since
                }
                let following: HashSet<Id> = s.users.following_ids(*follower_id).await?.into_iter().collect();
                // The followee's own posts, and (now that the follower
                // follows the person replied to) replies to the followee by
                // accounts the follower already follows: what a rebuild
                // would produce.
                let own = s.posts.recent_by_authors(&[*followee_id], None, s.cap).await?;
                let others: Vec<Id> = following.iter().copied().filter(|a| a != followee_id).collect();
                let replies = s.posts.replies_to(*followee_id, &others, s.cap).await?;
                let entries: Vec<Entry> = own
                    .into_iter()
                    .filter(|p| reaches(*follower_id, p, |a| following.contains(&a)))
                    .chain(replies)
                    .map(|p| Entry { post_id: p.post_id, author_id: p.author_id })
                    .collect();
                s.cache.insert(&[*follower_id], &entries).await?;
                inserted = entries.len();
            }
            Event::FollowRemoved { follower_id, followee_id } => {
                if s.users.is_following(*follower_id, *followee_id).await? {
                    return Ok(0); // followed again since
                }
                s.cache.remove_author(*follower_id, *followee_id).await?;
                // Replies to the unfollowed account by others no longer qualify.
                let others: Vec<Id> = s.users.following_ids(*follower_id).await?;
                let replies: Vec<Id> =
                    s.posts.replies_to(*followee_id, &others, s.cap).await?.into_iter().map(|p| p.post_id).collect();
                s.cache.remove_posts(&[*follower_id], &replies).await?;
            }
            Event::AccountCreated { .. } => {}
        }
        Ok(inserted)
    }
}
