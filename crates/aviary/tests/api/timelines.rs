//! Home and public timelines through the API: fan-out, back-fill on follow,
//! removal on unfollow and delete, visibility and paging.

use http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn follow_backfills_and_unfollow_removes_the_authors_posts() {
    let s = crate::start().await;
    let api = s.api();
    let author = api.sign_up("author").await;
    let reader = api.sign_up("reader").await;
    let mine = api.post(&reader, "my own", "public").await;
    let mut theirs = Vec::new();
    for i in 0..5 {
        theirs.push(api.post(&author, &format!("p{i}"), ["public", "private"][i % 2]).await);
    }
    assert_eq!(api.home_ids(&reader).await, vec![mine.clone()]);
    api.follow(&reader, &author).await;
    let home = api.home_eventually(&reader, |ids| ids.len() == 6).await;
    let mut want: Vec<String> = theirs.iter().rev().cloned().collect();
    want.push(mine.clone());
    assert_eq!(home, want, "back-filled, private included, newest first");
    api.unfollow(&reader, &author).await;
    let home = api.home_eventually(&reader, |ids| ids.len() == 1).await;
    assert_eq!(home, vec![mine]);
}

#[tokio::test]
async fn fan_out_reaches_followers_only_and_deletion_removes_everywhere() {
    let s = crate::start().await;
    let api = s.api();
    let author = api.sign_up("poster").await;
    let fans: Vec<_> = futures_join(&api, &["f1", "f2", "f3"]).await;
    let stranger = api.sign_up("stranger").await;
    for f in &fans {
        api.follow(f, &author).await;
    }
    let id = api.post(&author, "to my followers", "private").await;
    for f in &fans {
        assert_eq!(api.home_eventually(f, |ids| ids.contains(&id)).await, vec![id.clone()]);
    }
    assert!(api.home_ids(&stranger).await.is_empty());
    assert!(api.all_pages("/api/v1/timelines/public", None).await.is_empty(), "private is not public");
    api.expect(api.delete(&format!("/api/v1/statuses/{id}"), Some(&author.token)).await, StatusCode::OK).await;
    for f in &fans {
        assert!(api.home_eventually(f, |ids| ids.is_empty()).await.is_empty());
    }
    assert!(api.home_ids(&author).await.is_empty());
}

async fn futures_join(api: &testkit::Api, names: &[&str]) -> Vec<testkit::User> {
    let mut out = Vec::new();
    for n in names {
        out.push(api.sign_up(n).await);
    }
    out
}

#[tokio::test]
async fn replies_to_strangers_stay_out_of_home_but_threads_do_not() {
    let s = crate::start().await;
    let api = s.api();
    let a = api.sign_up("talker").await;
    let b = api.sign_up("listener").await;
    let c = api.sign_up("outsider").await;
    api.follow(&b, &a).await;
    let c_post = api.post(&c, "hello world", "public").await;
    let a_root = api.post(&a, "thread 1/2", "public").await;
    let reply = |to: &str, text: &str| {
        api.post_json("/api/v1/statuses", Some(&a.token), json!({"status": text, "in_reply_to_id": to}))
    };
    let to_outsider = api.expect(reply(&c_post, "@outsider hi").await, StatusCode::OK).await;
    let thread = api.expect(reply(&a_root, "thread 2/2").await, StatusCode::OK).await;
    assert_eq!(thread["in_reply_to_account_id"], a.id);
    let home = api.home_eventually(&b, |ids| ids.len() >= 2).await;
    assert_eq!(home, vec![thread["id"].as_str().unwrap().to_string(), a_root.clone()]);
    assert!(!home.contains(&to_outsider["id"].as_str().unwrap().to_string()));
    // Following the outsider too brings such replies in (as a rebuild
    // would); unfollowing takes them out again.
    api.follow(&b, &c).await;
    let to_outsider = to_outsider["id"].as_str().unwrap().to_string();
    let home = api.home_eventually(&b, |ids| ids.len() == 4).await;
    assert!(home.contains(&to_outsider) && home.contains(&c_post), "{home:?}");
    api.unfollow(&b, &c).await;
    let home = api.home_eventually(&b, |ids| ids.len() == 2).await;
    assert_eq!(home, vec![thread["id"].as_str().unwrap().to_string(), a_root]);
}

#[tokio::test]
async fn public_timeline_pages_forward_and_back_with_link_headers() {
    let s = crate::start().await;
    let api = s.api();
    let u = api.sign_up("pager").await;
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(api.post(&u, &format!("n{i}"), "public").await);
    }
    api.post(&u, "hidden from public", "unlisted").await;
    ids.reverse();
    assert_eq!(api.all_pages("/api/v1/timelines/public?limit=4&local=true", None).await, ids);
    // min_id pages backwards: the 4 posts just newer than the 10th.
    let r = api.get(&format!("/api/v1/timelines/public?limit=4&min_id={}", ids[10]), None).await;
    let page: Vec<serde_json::Value> = api.expect(r, StatusCode::OK).await.as_array().unwrap().clone();
    let got: Vec<&str> = page.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(got, ids[6..10].iter().map(String::as_str).collect::<Vec<_>>());
    // limit is clamped to 40.
    let r = api.get("/api/v1/timelines/public?limit=500", None).await;
    assert_eq!(api.expect(r, StatusCode::OK).await.as_array().unwrap().len(), 25);
    let r = api.get("/api/v1/timelines/public?limit=1", None).await;
    let link = r.headers()["link"].to_str().unwrap().to_string();
    assert!(
        link.contains(&format!("max_id={}", ids[0])) && link.contains("rel=\"next\"") && link.contains("limit=1"),
        "{link}"
    );
}

/// The cache keeps 800 entries per timeline; scrolling goes on from the
/// store to the very first post, in order, with nothing missing or twice.
#[tokio::test]
async fn home_scrolls_past_the_cache_cap_to_the_oldest_post() {
    use futures::StreamExt;
    let s = crate::start().await;
    let api = s.api();
    let users = futures_join(&api, &["reader", "prolific", "chatty"]).await;
    let (reader, a, b) = (&users[0], &users[1], &users[2]);
    api.follow(reader, a).await;
    api.follow(reader, b).await;
    assert!(api.home_ids(reader).await.is_empty());
    let mut want: Vec<String> = futures::stream::iter(0..850)
        .map(|i| {
            let (api, author) = (api.clone(), if i % 4 == 0 { b.clone() } else { a.clone() });
            async move { api.post(&author, &format!("number {i}"), "public").await }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    want.sort_by_key(|id| std::cmp::Reverse(id.parse::<u64>().unwrap()));
    let got = api.home_eventually(reader, |ids| ids.len() >= want.len()).await;
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want, "pages of 40 skipped, repeated or reordered");
    // Mastodon's default page size, through the Link headers.
    assert_eq!(api.all_pages("/api/v1/timelines/home", Some(&reader.token)).await, want);
    // Catching up after a break: upwards from the oldest post by `min_id`,
    // which starts far below the 800 entries the cache keeps.
    let mut up: Vec<String> = Vec::new();
    let mut min = want.last().unwrap().clone();
    loop {
        let path = format!("/api/v1/timelines/home?limit=40&min_id={min}");
        let page = api.expect(api.get(&path, Some(&reader.token)).await, http::StatusCode::OK).await;
        let ids: Vec<String> = page.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect();
        let Some(newest) = ids.first().cloned() else { break };
        up.extend(ids.into_iter().rev());
        min = newest;
        assert!(up.len() <= want.len(), "paging up does not end");
    }
    let mut above_oldest = want[..want.len() - 1].to_vec();
    above_oldest.reverse();
    assert_eq!(up, above_oldest, "pages of 40 by min_id skipped, repeated or reordered");
}

/// Fan-out inserts counted by this process's `/metrics` (all-in-one: the
/// only process; split mode spreads them over the timelines processes).
async fn fanout_inserts(api: &testkit::Api) -> u64 {
    let text = api.get("/metrics", None).await.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("aviary_timelines_fanout_inserts_total "))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// Events of `kind` this process's `timelines` has handled (from
/// `/metrics`).
async fn handled(api: &testkit::Api, kind: &str) -> u64 {
    let text = api.get("/metrics", None).await.text().await.unwrap();
    let prefix = format!("aviary_timelines_event_lag_seconds_count{{kind=\"{kind}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(prefix.as_str())).map_or(0, |v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn a_celebrity_is_pulled_on_read_and_moves_back_to_fan_out() {
    let s = crate::start_with(|c| c.timelines.celebrity_threshold = 2).await;
    let api = s.api();
    let all_in_one = matches!(s, testkit::System::AllInOne(_));
    let star = api.sign_up("star").await;
    let fans = futures_join(&api, &["fan1", "fan2", "fan3", "fan4"]).await;
    let p0 = api.post(&star, "before anyone followed", "public").await;
    for f in &fans[..3] {
        api.follow(f, &star).await;
        assert_eq!(api.home_eventually(f, |ids| ids.len() == 1).await, vec![p0.clone()]);
    }

    // Three followers, more than the threshold of 2: the next post moves
    // the star onto the pull path. (A read can rebuild a timeline before
    // the follow's event is handled; count inserts only once the earlier
    // events are done with.)
    if all_in_one {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while handled(&api, "follow.created").await < 3 || handled(&api, "post.created").await < 1 {
            assert!(std::time::Instant::now() < deadline, "the follows' events were not handled in 10 s");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    let before = fanout_inserts(&api).await;
    let p1 = api.post(&star, "one", "public").await;
    let p2 = api.post(&star, "two", "public").await;
    let want = vec![p2.clone(), p1.clone(), p0.clone()];
    for f in &fans[..3] {
        assert_eq!(api.home_eventually(f, |ids| ids.len() == 3).await, want, "{} while pulled", f.username);
    }
    assert_eq!(api.home_eventually(&star, |ids| ids.len() == 3).await, want, "the star's own home");
    if all_in_one {
        // Two posts, each written to the star's own timeline only.
        assert_eq!(fanout_inserts(&api).await - before, 2, "pulled posts were fanned out");
    }
    // A new follower sees the back catalogue.
    api.follow(&fans[3], &star).await;
    assert_eq!(api.home_eventually(&fans[3], |ids| ids.len() == 3).await, want);

    // Down to one follower (below 90 % of 2): the next post moves back.
    for f in &fans[1..] {
        api.unfollow(f, &star).await;
    }
    let p3 = api.post(&star, "three", "public").await;
    let p4 = api.post(&star, "four", "public").await;
    let want = vec![p4, p3, p2, p1, p0];
    assert_eq!(api.home_eventually(&fans[0], |ids| ids.len() == 5).await, want);
    for f in &fans[1..] {
        assert!(api.home_eventually(f, |ids| ids.is_empty()).await.is_empty(), "{} unfollowed", f.username);
    }
}
