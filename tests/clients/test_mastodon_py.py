"""Mastodon.py (unmodified, from PyPI) against Aviary: sign-up, login,
follows, posting, paging home and public timelines, deletion and
unfollowing, each checked through the library's own parsed objects."""
import time
import uuid

import pytest
from mastodon import Mastodon, MastodonNotFoundError, MastodonAPIError

from conftest import new_account


def all_pages(m, first_page):
    """Every item of a paginated listing, following the Link headers."""
    items, page = [], first_page
    while page:
        items.extend(page)
        page = m.fetch_next(page)
    return items


def eventually(fn, timeout=10.0):
    """Fan-out is asynchronous: poll (bounded) instead of sleeping blindly."""
    deadline = time.monotonic() + timeout
    while True:
        result = fn()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


@pytest.fixture(scope="module")
def trio(base_url, app):
    return [new_account(base_url, app, p) for p in ("alice", "bob", "carol")]


def test_instance_and_credentials(trio):
    alice, _, _ = trio
    inst = alice.instance()
    assert inst.configuration.statuses.max_characters == 500
    me = alice.account_verify_credentials()
    assert me.username.startswith("alice_")
    assert me.source.privacy == "public"
    updated = alice.account_update_credentials(display_name="Alice A.", note="Hello & welcome")
    assert updated.display_name == "Alice A."
    assert "Hello &amp; welcome" in updated.note
    assert alice.account_lookup(me.acct).id == me.id


def test_preferences(trio):
    alice, _, _ = trio
    prefs = alice.preferences()
    assert prefs["posting:default:visibility"] == "public"
    assert prefs["posting:default:sensitive"] is False
    assert prefs["posting:default:language"] is None
    assert prefs["reading:expand:media"] == "default"
    assert prefs["reading:expand:spoilers"] is False


def test_follow_post_page_delete_unfollow(trio):
    alice, bob, carol = trio
    a, b, c = (m.account_verify_credentials() for m in trio)

    rel = bob.account_follow(a.id)
    assert rel.following
    carol.account_follow(a.id)
    assert [r.following for r in bob.account_relationships([a.id, c.id])] == [True, False]
    assert alice.account(a.id).followers_count == 2
    assert {x.id for x in all_pages(alice, alice.account_followers(a.id, limit=1))} == {b.id, c.id}
    assert [x.id for x in bob.account_following(b.id)] == [a.id]

    # Both follows reach alice's notifications (through the bus, so poll).
    notes = eventually(lambda: [n for n in alice.notifications(types=["follow"]) if n.account.id in (b.id, c.id)]
                       if len(alice.notifications(types=["follow"])) >= 2 else None)
    assert notes and {n.account.id for n in notes} == {b.id, c.id}
    assert all(n.type == "follow" for n in notes)
    assert alice.notifications(id=notes[0].id).id == notes[0].id
    assert alice.notifications(exclude_types=["follow"]) == []
    alice.notifications_dismiss(notes[0].id)
    assert [n.id for n in alice.notifications()] == [notes[1].id]
    alice.notifications_clear()
    assert alice.notifications() == []

    posted = []
    for i in range(45):
        vis = ["public", "unlisted", "private"][i % 3]
        posted.append(alice.status_post(f"post {i} from alice", visibility=vis))
    own = bob.status_post("bob's own post")
    reply = bob.status_post("a reply", in_reply_to_id=posted[0].id)

    expected_bob = [s.id for s in reversed(posted)]
    bob_home = eventually(lambda: (ids := [s.id for s in all_pages(bob, bob.timeline_home(limit=20))])
                          and set(expected_bob) <= set(ids) and ids)
    # Newest first, each exactly once, and pages of 20 stitched by Link headers.
    assert bob_home == sorted(bob_home, reverse=True)
    assert len(bob_home) == len(set(bob_home))
    assert set(bob_home) == set(expected_bob) | {own.id, reply.id}

    public = all_pages(carol, carol.timeline_public(limit=7))
    public_ids = {s.id for s in public}
    assert {s.id for s in posted if s.visibility == "public"} <= public_ids
    assert not {s.id for s in posted if s.visibility != "public"} & public_ids

    # A follower sees private posts on the author's profile; a stranger does not.
    assert len(all_pages(bob, bob.account_statuses(a.id, limit=40))) == 45
    stranger = Mastodon(api_base_url=bob.api_base_url)
    assert len(all_pages(stranger, stranger.account_statuses(a.id, limit=40))) == 30
    with pytest.raises(MastodonNotFoundError):
        stranger.status(posted[2].id)

    ctx = carol.status_context(posted[0].id)
    assert [s.id for s in ctx.descendants] == [reply.id]
    assert carol.status(posted[0].id).replies_count == 1

    # Deletion reaches every follower's home timeline.
    doomed = posted[-1]
    deleted = alice.status_delete(doomed.id)
    assert deleted.text == doomed.content.removeprefix("<p>").removesuffix("</p>")
    for m in (bob, carol, alice):
        assert eventually(lambda: doomed.id not in {s.id for s in all_pages(m, m.timeline_home(limit=40))})
    with pytest.raises(MastodonNotFoundError):
        bob.status(doomed.id)

    # Unfollowing removes the author's posts from the home timeline.
    carol.account_unfollow(a.id)
    assert eventually(lambda: not all_pages(carol, carol.timeline_home(limit=40)))
    assert alice.account(a.id).followers_count == 1


def test_errors_come_back_as_library_exceptions(trio):
    alice, _, _ = trio
    with pytest.raises(MastodonAPIError) as e:
        alice.status_post("x" * 501)
    assert e.value.args[1] == 422
    with pytest.raises(MastodonNotFoundError):
        alice.account("999999999999")


def test_favourites(trio):
    alice, bob, carol = trio
    me = alice.account_verify_credentials()
    posts = [alice.status_post(f"worth a star {i}") for i in range(3)]
    # Favourited 1, 0, 2: listed newest favourite first; again is a no-op.
    for i in [1, 0, 2, 2]:
        starred = bob.status_favourite(posts[i])
        assert starred.favourited is True and starred.favourites_count == 1
    carol.status_favourite(posts[0])
    assert alice.status(posts[0]).favourites_count == 2
    assert alice.status(posts[0]).favourited is False
    assert bob.status(posts[0]).favourited is True
    listed = all_pages(bob, bob.favourites(limit=2))
    assert [s.id for s in listed] == [posts[2].id, posts[0].id, posts[1].id]
    assert all(s.favourited for s in listed)
    who = bob.status_favourited_by(posts[0])
    assert [a.acct for a in who][-1].startswith("bob_") and len(who) == 2
    # Bob sees his stars in Alice's statuses; unfavouriting takes them back.
    mine = {s.id: s.favourited for s in bob.account_statuses(me.id, limit=3)}
    assert mine == {p.id: True for p in posts}
    unstarred = bob.status_unfavourite(posts[2])
    assert unstarred.favourited is False and unstarred.favourites_count == 0
    assert [s.id for s in all_pages(bob, bob.favourites())] == [posts[0].id, posts[1].id]
    with pytest.raises(MastodonNotFoundError):
        bob.status_favourite(999999999999)
    private = alice.status_post("followers only", visibility="private")
    with pytest.raises(MastodonNotFoundError):
        carol.status_favourite(private)


def test_bookmarks(trio):
    alice, bob, _ = trio
    posts = [alice.status_post(f"for later {i}") for i in range(3)]
    for p in posts:
        saved = bob.status_bookmark(p)
        assert saved.bookmarked is True and saved.favourites_count == 0
    assert bob.status_bookmark(posts[0]).bookmarked is True
    listed = all_pages(bob, bob.bookmarks(limit=2))
    assert [s.id for s in listed] == [p.id for p in reversed(posts)]
    assert alice.status(posts[0]).bookmarked is False
    assert bob.status_unbookmark(posts[1]).bookmarked is False
    assert [s.id for s in all_pages(bob, bob.bookmarks())] == [posts[2].id, posts[0].id]
    with pytest.raises(MastodonNotFoundError):
        bob.status_bookmark(999999999999)


def test_pins(trio):
    alice, bob, _ = trio
    me = alice.account_verify_credentials()
    posts = [alice.status_post(f"featured {i}") for i in range(2)]
    for p in posts:
        assert alice.status_pin(p).pinned is True
    pinned = alice.account_statuses(me.id, pinned=True)
    assert [s.id for s in pinned][:2] == [posts[1].id, posts[0].id]
    assert all(s.pinned for s in pinned)
    assert all(not s.pinned for s in bob.account_statuses(me.id, pinned=True))
    assert alice.status_unpin(posts[1]).pinned is False
    assert posts[1].id not in [s.id for s in alice.account_statuses(me.id, pinned=True)]
    theirs = bob.status_post("not alice's")
    with pytest.raises(MastodonAPIError):
        alice.status_pin(theirs)


def test_conversation_mute(trio):
    alice, bob, _ = trio
    root = alice.status_post("a thread to mute")
    reply = bob.status_post("a reply", in_reply_to_id=root)
    assert bob.status_mute(root).muted is True
    assert bob.status(reply).muted is True
    assert alice.status(reply).muted is False
    assert bob.status_unmute(reply).muted is False
    assert bob.status(root).muted is False


def test_follow_requests(base_url, app):
    lock = new_account(base_url, app, "lock")
    fan = new_account(base_url, app, "fan")
    assert lock.account_update_credentials(locked=True).locked is True
    me = lock.account_verify_credentials()
    secret = lock.status_post("followers only", visibility="private")
    rel = fan.account_follow(me.id)
    assert rel.requested is True and rel.following is False
    with pytest.raises(MastodonNotFoundError):
        fan.status(secret)
    assert lock.account_verify_credentials().source.follow_requests_count == 1
    waiting = lock.follow_requests()
    assert [a.acct for a in waiting] == [fan.account_verify_credentials().acct]
    assert lock.follow_request_authorize(waiting[0].id).followed_by is True
    assert fan.status(secret).id == secret.id
    assert lock.follow_requests() == []


def test_edits(trio):
    alice, bob, _ = trio
    me = alice.account_verify_credentials()
    post = alice.status_post("a first draft")
    edited = alice.status_update(post, "the final text", spoiler_text="cw")
    assert "the final text" in edited.content and edited.edited_at is not None
    # The next read of every timeline that holds it shows the edit.
    assert eventually(lambda: any(s.id == post.id and "the final text" in s.content
                                  for s in alice.timeline_home()))
    assert any(s.id == post.id and "the final text" in s.content for s in bob.timeline_public())
    assert "the final text" in alice.account_statuses(me.id, limit=5)[0].content
    history = alice.status_history(post)
    assert ["a first draft" in history[0].content, "the final text" in history[-1].content] == [True, True]
    source = alice.status_source(post)
    assert source.text == "the final text" and source.spoiler_text == "cw"
    with pytest.raises(MastodonNotFoundError):
        bob.status_update(post, "not yours")


def test_boosts(base_url, app):
    alice, bob, carol, dave = (new_account(base_url, app, p) for p in ("alice", "bob", "carol", "dave"))
    a, b = alice.account_verify_credentials(), bob.account_verify_credentials()
    carol.account_follow(a.id)
    carol.account_follow(b.id)
    dave.account_follow(b.id)
    original = alice.status_post("worth a boost")
    boost = bob.status_reblog(original)
    assert boost.reblog.id == original.id and boost.account.id == b.id
    assert boost.reblog.reblogged is True and boost.reblog.reblogs_count == 1
    assert bob.status_reblog(original).id == boost.id, "boosting again is the same boost"
    assert [x.id for x in alice.status_reblogged_by(original)] == [b.id]
    assert carol.status(original).reblogs_count == 1 and carol.status(original).reblogged is False

    # Carol follows the author and the booster: the original appears once,
    # and not as the boost. Dave follows only the booster: he sees the boost.
    carols = eventually(lambda: (page := carol.timeline_home()) and page)
    assert [s.id for s in carols] == [original.id]
    daves = eventually(lambda: (page := dave.timeline_home()) and page)
    assert [(s.id, s.reblog.id) for s in daves] == [(boost.id, original.id)]
    # A boost far enough above an earlier appearance of its original shows.
    fillers = [alice.status_post(f"filler {i}") for i in range(40)]
    daves_boost = dave.status_reblog(original)
    carol.account_follow(dave.account_verify_credentials().id)
    carols = eventually(lambda: (page := all_pages(carol, carol.timeline_home(limit=20)))
                        and len(page) == 42 and page)
    assert [s.id for s in carols[:2]] == [daves_boost.id, fillers[-1].id]
    assert carols[0].reblog.id == original.id and carols[-1].id == original.id

    # Unboosting removes the boost from every home timeline.
    unboosted = bob.status_unreblog(original)
    assert unboosted.id == original.id and unboosted.reblogged is False
    assert eventually(lambda: boost.id not in {s.id for s in dave.timeline_home()})
    # Deleting the original removes every remaining boost of it.
    alice.status_delete(original)
    assert eventually(lambda: original.id not in {s.id for s in (s.reblog or s for s in
                                                   all_pages(carol, carol.timeline_home(limit=40)))})
    with pytest.raises(MastodonNotFoundError):
        carol.status(daves_boost.id)

    private = alice.status_post("followers only", visibility="private")
    with pytest.raises(MastodonAPIError) as refused:
        carol.status_reblog(private)
    assert refused.value.args[1] == 422
    with pytest.raises(MastodonNotFoundError):
        dave.status_reblog(private)


def test_blocks_and_mutes(base_url, app):
    alice, bob, carol = (new_account(base_url, app, p) for p in ("alice", "bob", "carol"))
    a, b, c = (m.account_verify_credentials() for m in (alice, bob, carol))
    bob.account_follow(a.id)
    alice.account_follow(b.id)
    bob.account_follow(c.id)
    delivered = alice.status_post("delivered before the block")
    assert eventually(lambda: [s.id for s in bob.timeline_home()] == [delivered.id])

    # A block made after fan-out hides what was delivered, both ways.
    rel = bob.account_block(a.id)
    assert rel.blocking and not rel.following and not rel.followed_by
    assert alice.account_relationships([b.id])[0].blocked_by
    assert eventually(lambda: bob.timeline_home() == [])
    assert [x.id for x in bob.blocks()] == [a.id]
    with pytest.raises(MastodonNotFoundError):
        alice.status(bob.status_post("not for alice").id)
    with pytest.raises(MastodonAPIError) as refused:
        alice.account_follow(b.id)
    assert refused.value.args[1] == 403
    with pytest.raises(MastodonAPIError) as refused:
        bob.account_block(b.id)
    assert refused.value.args[1] == 422
    assert not bob.account_unblock(a.id).blocking

    # A mute hides the muted account's posts until unmuted.
    bob.account_follow(a.id)
    rel = bob.account_mute(a.id, notifications=False, duration=3600)
    assert rel.muting and not rel.muting_notifications
    muted = bob.mutes()
    assert [x.id for x in muted] == [a.id] and muted[0].mute_expires_at is not None
    during = alice.status_post("while muted")
    own = carol.status_post("carol's")
    assert eventually(lambda: [s.id for s in bob.timeline_home()][:1] == [own.id])
    assert during.id not in {s.id for s in bob.timeline_home()}
    assert not bob.account_unmute(a.id).muting
    assert eventually(lambda: during.id in {s.id for s in bob.timeline_home()})

    # Following again with reblogs=False hides Carol's boosts.
    rel = bob.account_follow(c.id, reblogs=False, notify=True)
    assert not rel.showing_reblogs and rel.notifying
    stranger = new_account(base_url, app, "dave")
    boosted = carol.status_reblog(stranger.status_post("worth a boost"))
    assert carol.account_statuses(c.id)[0].id == boosted.id
    time.sleep(0.3)
    assert boosted.id not in {s.id for s in bob.timeline_home()}
    assert bob.account_follow(c.id, reblogs=True).showing_reblogs
    assert eventually(lambda: bob.timeline_home()[0].id == boosted.id)


def test_mentions_and_hashtags(base_url, app):
    alice, bob, carol = (new_account(base_url, app, p) for p in ("alice", "bob", "carol"))
    a, b, c = (m.account_verify_credentials() for m in (alice, bob, carol))
    tag = f"Aviary{uuid.uuid4().hex[:6]}"
    s = alice.status_post(f"hello @{b.username} and @nobody_here #{tag}")
    assert [(m.id, m.acct) for m in s.mentions] == [(b.id, b.username)]
    assert [t.name for t in s.tags] == [tag]
    assert 'class="u-url mention"' in s.content and 'class="mention hashtag"' in s.content
    assert "@nobody_here" in s.content

    # A mentioned account sees a private post; another does not.
    private = alice.status_post(f"@{b.username} between us #{tag}", visibility="private")
    assert bob.status(private.id).id == private.id
    with pytest.raises(MastodonNotFoundError):
        carol.status(private.id)

    # The tag timeline lists the public post, not the private one.
    assert [x.id for x in carol.timeline_hashtag(tag.lower())] == [s.id]
    other = bob.status_post(f"#{tag} #second{tag}")
    assert [x.id for x in carol.timeline_hashtag(tag)] == [other.id, s.id]
    shown = carol.tag(tag)
    assert shown.name == tag and shown.following is False and len(shown.history) == 7
    assert int(shown.history[0].uses) == 2

    # A followed tag brings public posts into the home, from strangers too.
    assert carol.tag_follow(tag).following is True
    assert [t.name for t in carol.followed_tags()] == [tag]
    later = alice.status_post(f"more #{tag}")
    assert eventually(lambda: later.id in {x.id for x in carol.timeline_home()})
    assert private.id not in {x.id for x in carol.timeline_home()}
    assert carol.tag_unfollow(tag).following is False
    assert eventually(lambda: later.id not in {x.id for x in carol.timeline_home()})
    assert carol.followed_tags() == []
    with pytest.raises(MastodonNotFoundError):
        carol.tag("12345")


def test_direct_posts_and_conversations(base_url, app):
    alice, bob, carol = (new_account(base_url, app, p) for p in ("alice", "bob", "carol"))
    a, b, c = (m.account_verify_credentials() for m in (alice, bob, carol))
    bob.account_follow(a.id)
    carol.account_follow(a.id)
    tag = f"dm{uuid.uuid4().hex[:6]}"
    dm = alice.status_post(f"@{b.username} just for you #{tag}", visibility="direct")
    assert dm.visibility == "direct"
    after = alice.status_post("for everyone")

    # The mentioned follower's home has it; another follower's never does.
    assert eventually(lambda: [x.id for x in bob.timeline_home()][:2] == [after.id, dm.id])
    assert eventually(lambda: [x.id for x in carol.timeline_home()][:1] == [after.id])
    assert dm.id not in {x.id for x in carol.timeline_home()}
    assert dm.id not in {x.id for x in carol.timeline_public()}
    assert bob.timeline_hashtag(tag) == []
    with pytest.raises(MastodonNotFoundError):
        carol.status(dm.id)
    with pytest.raises(MastodonAPIError) as refused:
        bob.status_reblog(dm)
    assert refused.value.args[1] == 422

    # A conversation for each participant: unread until read.
    convs = bob.conversations()
    assert len(convs) == 1 and convs[0].unread and convs[0].last_status.id == dm.id
    assert [x.id for x in convs[0].accounts] == [a.id]
    assert carol.conversations() == []
    assert bob.conversations_read(convs[0]).unread is False
    reply = bob.status_post(f"@{a.username} thanks", visibility="direct", in_reply_to_id=dm)
    mine = alice.conversations()
    assert mine[0].id == convs[0].id and mine[0].unread and mine[0].last_status.id == reply.id


def test_polls(base_url, app):
    alice, bob, carol = (new_account(base_url, app, p) for p in ("alice", "bob", "carol"))
    limits = alice.instance_v2().configuration.polls
    assert limits.max_options == 4 and limits.max_characters_per_option == 50
    s = alice.status_post("tea or coffee?", poll=alice.make_poll(["tea", "coffee", "water"], expires_in=3600,
                                                                  multiple=True))
    assert [o.title for o in s.poll.options] == ["tea", "coffee", "water"]
    voted = bob.poll_vote(s.poll.id, [0, 2])
    assert voted.voted and sorted(voted.own_votes) == [0, 2] and voted.votes_count == 2
    assert carol.poll(s.poll.id).voted is False
    with pytest.raises(MastodonAPIError) as refused:
        bob.poll_vote(s.poll.id, [1])
    assert refused.value.args[1] == 422
    assert carol.status(s.id).poll.options[0].votes_count == 1

    # Bad polls are refused.
    for options in (["alone"], ["a", "b", "c", "d", "e"], ["a", "x" * 51]):
        with pytest.raises(MastodonAPIError) as refused:
            alice.status_post("bad", poll=alice.make_poll(options, expires_in=3600))
        assert refused.value.args[1] == 422

    # A poll that ended refuses votes with 422 (this server's shortest poll
    # lasts a second, for the test).
    short = alice.status_post("quick!", poll=alice.make_poll(["yes", "no"], expires_in=1))
    assert eventually(lambda: carol.poll(short.poll.id).expired, timeout=10)
    with pytest.raises(MastodonAPIError) as refused:
        carol.poll_vote(short.poll.id, [0])
    assert refused.value.args[1] == 422


def test_interaction_notifications(base_url, app):
    alice, bob, carol = (new_account(base_url, app, p) for p in ("alice", "bob", "carol"))
    a, b, c = (m.account_verify_credentials() for m in (alice, bob, carol))
    post = alice.status_post("something to react to")
    bob.status_favourite(post)
    carol.status_reblog(post)
    mention = bob.status_post(f"@{a.username} have a look")
    kinds = ["favourite", "reblog", "mention"]
    notes = eventually(lambda: (n := alice.notifications(types=kinds)) and len(n) == 3 and n)
    assert [(n.type, n.account.id, n.status.id) for n in notes] == [
        ("mention", b.id, mention.id), ("reblog", c.id, post.id), ("favourite", b.id, post.id)]
    assert bob.notifications() == [] and carol.notifications() == []
    bob.status_unfavourite(post)
    assert eventually(lambda: [n.type for n in alice.notifications(types=kinds)] == ["mention", "reblog"])


def test_post_edit_and_poll_notifications(base_url, app):
    alice, bob, carol = (new_account(base_url, app, p) for p in ("alice", "bob", "carol"))
    a = alice.account_verify_credentials()
    assert bob.account_follow(a.id, notify=True).notifying
    post = alice.status_post("news for those who asked")
    assert eventually(lambda: [(n.type, n.status.id) for n in bob.notifications(types=["status"])] == [
        ("status", post.id)])
    carol.status_reblog(post)
    alice.status_update(post, "news, corrected")
    assert eventually(lambda: [n.type for n in carol.notifications(types=["update"])] == ["update"])
    # An ended poll tells its voters and its author.
    quick = alice.status_post("quick vote", poll=alice.make_poll(["yes", "no"], expires_in=1))
    bob.poll_vote(quick.poll.id, [0])
    assert eventually(lambda: [n.status.id for n in bob.notifications(types=["poll"])] == [quick.id], timeout=15)
    assert eventually(lambda: [n.status.id for n in alice.notifications(types=["poll"])] == [quick.id], timeout=15)


def test_markers_and_unread_count(base_url, app):
    alice, bob = (new_account(base_url, app, p) for p in ("alice", "bob"))
    a = alice.account_verify_credentials()
    post = alice.status_post("mark me")
    saved = alice.markers_set(["home"], [post])
    assert saved["home"].last_read_id == post.id and saved["home"].version == 1
    assert alice.markers_get(["home", "notifications"])["home"].last_read_id == post.id
    bob.account_follow(a.id)
    assert eventually(lambda: alice.notifications_unread_count().count == 1)
    note = alice.notifications()[0]
    alice.markers_set(["notifications"], [note.id])
    assert alice.notifications_unread_count().count == 0
