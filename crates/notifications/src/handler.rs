//! Event handling for `notifications`. Each branch is idempotent and
//! re-checks the current state at the source (`users`), so a redelivered
//! or late event — a `follow.created` arriving after the unfollow — neither
//! duplicates nor resurrects a notification.

use crate::NotificationsService;
use async_trait::async_trait;
use bus::{Handler, Subscription};
use model::{Envelope, Event};

pub struct NotificationsHandler {
    service: NotificationsService,
}

impl NotificationsHandler {
    pub fn new(service: NotificationsService) -> Self {
        NotificationsHandler { service }
    }

    pub fn subscription() -> Subscription {
        Subscription::new(NotificationsService::COMPONENT, &["follow.*"])
    }
}

#[async_trait]
impl Handler for NotificationsHandler {
    async fn handle(&self, envelope: &Envelope) -> anyhow::Result<()> {
        let s = &self.service;
        let (follower, followee, followed) = match &envelope.event {
            Event::FollowCreated { follower_id, followee_id } => (*follower_id, *followee_id, true),
            Event::FollowRemoved { follower_id, followee_id } => (*follower_id, *followee_id, false),
            _ => return Ok(()),
        };
        let following = s.users.is_following(follower, followee).await?;
        match (followed, following) {
            // Never for one's own action.
            (true, true) if follower != followee => s.record_follow(follower, followee).await?,
            (false, false) => s.remove_follow(follower, followee).await?,
            // Undone, or done again, since: the event is out of date.
            _ => {}
        }
        Ok(())
    }
}
