//! Polls at the handler level: `poll[…]` on a new status and on an edit,
//! the Poll entity on the status and at `GET /api/v1/polls/:id` (totals
//! hidden while asked, the viewer's own votes), voting once, and the
//! refusals: bad polls, bad choices, a second vote, an ended poll (422), a
//! poll the viewer may not see or that does not exist (404).

mod support;

use http::{Method, StatusCode};
use serde_json::{Value, json};
use support::Harness;

async fn short_polls() -> Harness {
    Harness::with(|s| s.instance.polls.min_expiration_secs = 1).await
}

#[tokio::test]
async fn a_poll_is_shown_voted_once_and_counted() {
    let h = short_polls().await;
    let (alice, bob, carol) = (h.user("alice").await, h.user("bob").await, h.user("carol").await);
    let s = h
        .post(
            "/api/v1/statuses",
            Some(&alice.token),
            json!({"status": "tea or coffee?", "poll": {"options": ["tea", "coffee", "water"], "expires_in": 3600, "multiple": true}}),
        )
        .await
        .expect(StatusCode::OK);
    let poll = &s["poll"];
    assert_eq!(poll["id"], s["id"]);
    assert_eq!((poll["expired"].as_bool(), poll["multiple"].as_bool()), (Some(false), Some(true)));
    assert_eq!((poll["votes_count"].as_u64(), poll["voters_count"].as_u64()), (Some(0), Some(0)));
    assert_eq!(poll["options"][1], json!({"title": "coffee", "votes_count": 0}));
    assert_eq!((poll["voted"].as_bool(), poll["own_votes"].clone()), (Some(false), json!([])));
    assert!(poll["expires_at"].is_string());
    let id = s["id"].as_str().unwrap();

    let path = format!("/api/v1/polls/{id}/votes");
    let voted = h.post(&path, Some(&bob.token), json!({"choices": ["0", "2"]})).await.expect(StatusCode::OK);
    assert_eq!((voted["voted"].as_bool(), voted["own_votes"].clone()), (Some(true), json!([0, 2])));
    assert_eq!((voted["votes_count"].as_u64(), voted["voters_count"].as_u64()), (Some(2), Some(1)));
    let again = h.post(&path, Some(&bob.token), json!({"choices": ["1"]})).await;
    assert_eq!(again.error(StatusCode::UNPROCESSABLE_ENTITY), "Validation failed: You have already voted on this poll");
    for bad in [json!({}), json!({"choices": ["3"]}), json!({"choices": ["x"]}), json!({"choices": ["-1"]})] {
        assert_eq!(
            h.post(&path, Some(&carol.token), bad.clone()).await.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}"
        );
    }
    // Everywhere the status is read, the counts; the viewer's votes its own.
    let status = h.get(&format!("/api/v1/statuses/{id}"), Some(&bob.token)).await.expect(StatusCode::OK);
    assert_eq!(status["poll"]["own_votes"], json!([0, 2]));
    let anonymous = h.get(&format!("/api/v1/polls/{id}"), None).await.expect(StatusCode::OK);
    assert_eq!(anonymous["options"][0]["votes_count"], 1);
    assert!(anonymous.get("voted").is_none() && anonymous.get("own_votes").is_none(), "{anonymous}");
    let page =
        h.get(&format!("/api/v1/accounts/{}/statuses", alice.id), Some(&carol.token)).await.expect(StatusCode::OK);
    assert_eq!((page[0]["poll"]["votes_count"].as_u64(), page[0]["poll"]["voted"].as_bool()), (Some(2), Some(false)));

    // Single choice, hidden totals: null counts for others until it ends.
    let hidden = h
        .post(
            "/api/v1/statuses",
            Some(&alice.token),
            json!({"status": "secret ballot", "poll": {"options": ["yes", "no"], "expires_in": 1, "hide_totals": true}}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(hidden["poll"]["voters_count"], Value::Null, "single choice");
    let hid = hidden["id"].as_str().unwrap();
    let after = h.post(&format!("/api/v1/polls/{hid}/votes"), Some(&bob.token), json!({"choices": [0]})).await;
    assert_eq!(after.expect(StatusCode::OK)["options"][0]["votes_count"], Value::Null);
    let by_author = h.get(&format!("/api/v1/polls/{hid}"), Some(&alice.token)).await.expect(StatusCode::OK);
    assert_eq!(by_author["options"][0]["votes_count"], 1, "the author sees the totals");
    assert_eq!(
        h.post(&format!("/api/v1/polls/{hid}/votes"), Some(&carol.token), json!({"choices": ["0", "1"]})).await.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "one choice"
    );
    // Once it ended (a second), shown with totals and closed to votes.
    let mut ended = Value::Null;
    for _ in 0..100 {
        ended = h.get(&format!("/api/v1/polls/{hid}"), None).await.expect(StatusCode::OK);
        if ended["expired"] == true {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!((ended["expired"].as_bool(), ended["options"][0]["votes_count"].as_u64()), (Some(true), Some(1)));
    let late = h.post(&format!("/api/v1/polls/{hid}/votes"), Some(&carol.token), json!({"choices": ["1"]})).await;
    assert_eq!(late.error(StatusCode::UNPROCESSABLE_ENTITY), "Validation failed: The poll has already ended");
}

#[tokio::test]
async fn bad_polls_are_422_and_hidden_or_missing_ones_404() {
    let h = short_polls().await;
    let (alice, bob) = (h.user("alice").await, h.user("bob").await);
    let long = "x".repeat(51);
    for poll in [
        json!({"options": ["only one"], "expires_in": 3600}),
        json!({"options": ["a", "b", "c", "d", "e"], "expires_in": 3600}),
        json!({"options": ["a", long], "expires_in": 3600}),
        json!({"options": ["a", "a"], "expires_in": 3600}),
        json!({"options": ["a", " "], "expires_in": 3600}),
        json!({"options": ["a", "b"]}),
        json!({"options": ["a", "b"], "expires_in": "soon"}),
        json!({"options": ["a", "b"], "expires_in": 0}),
        json!({"options": ["a", "b"], "expires_in": 99_999_999}),
        json!({"options": ["a", "b"], "expires_in": 60, "multiple": "perhaps"}),
        json!({"expires_in": 60}),
    ] {
        let r = h.post("/api/v1/statuses", Some(&alice.token), json!({"status": "q", "poll": poll})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{poll} → {}", r.text);
        assert!(r.body["error"].is_string());
    }
    // Nothing was posted.
    let mine = h.get(&format!("/api/v1/accounts/{}/statuses", alice.id), None).await.expect(StatusCode::OK);
    assert_eq!(mine, json!([]));

    // A private poll: 404 to a stranger, to read and to vote.
    let private = h
        .post(
            "/api/v1/statuses",
            Some(&alice.token),
            json!({"status": "friends only", "visibility": "private", "poll": {"options": ["a", "b"], "expires_in": 60}}),
        )
        .await
        .expect(StatusCode::OK)["id"]
        .as_str()
        .unwrap()
        .to_string();
    h.get(&format!("/api/v1/polls/{private}"), Some(&bob.token)).await.error(StatusCode::NOT_FOUND);
    h.post(&format!("/api/v1/polls/{private}/votes"), Some(&bob.token), json!({"choices": [0]}))
        .await
        .error(StatusCode::NOT_FOUND);
    // A post without a poll, an unknown id, no token.
    let plain = h.status(&alice, "no poll here", "public").await;
    h.get(&format!("/api/v1/polls/{plain}"), None).await.error(StatusCode::NOT_FOUND);
    h.post(&format!("/api/v1/polls/{plain}/votes"), Some(&bob.token), json!({"choices": [0]}))
        .await
        .error(StatusCode::NOT_FOUND);
    h.get("/api/v1/polls/123456", None).await.error(StatusCode::NOT_FOUND);
    h.post(&format!("/api/v1/polls/{private}/votes"), None, json!({"choices": [0]}))
        .await
        .error(StatusCode::UNAUTHORIZED);

    // An edit that changes the options resets the votes; one without a poll removes it.
    let s = h
        .post(
            "/api/v1/statuses",
            Some(&alice.token),
            json!({"status": "v1", "poll": {"options": ["a", "b"], "expires_in": 60}}),
        )
        .await
        .expect(StatusCode::OK);
    let id = s["id"].as_str().unwrap();
    h.post(&format!("/api/v1/polls/{id}/votes"), Some(&bob.token), json!({"choices": [1]}))
        .await
        .expect(StatusCode::OK);
    let put = |body: Value| {
        let (h, path, token) = (&h, format!("/api/v1/statuses/{id}"), alice.token.clone());
        async move { h.call(Method::PUT, &path, Some(&token), Some(body)).await }
    };
    let same =
        put(json!({"status": "v2", "poll": {"options": ["a", "b"], "expires_in": 120}})).await.expect(StatusCode::OK);
    assert_eq!(same["poll"]["votes_count"], 1, "the same options keep their votes");
    let changed =
        put(json!({"status": "v3", "poll": {"options": ["a", "c"], "expires_in": 120}})).await.expect(StatusCode::OK);
    assert_eq!(changed["poll"]["votes_count"], 0);
    assert_eq!(
        put(json!({"status": "v4", "poll": {"options": ["a"], "expires_in": 120}})).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(put(json!({"status": "v5"})).await.expect(StatusCode::OK)["poll"], Value::Null);

    // The instance says what a poll may be.
    let inst = h.get("/api/v2/instance", None).await.expect(StatusCode::OK);
    let limits = &inst["configuration"]["polls"];
    assert_eq!((limits["max_options"].as_u64(), limits["max_characters_per_option"].as_u64()), (Some(4), Some(50)));
    assert_eq!(limits["min_expiration"], 1);
}
