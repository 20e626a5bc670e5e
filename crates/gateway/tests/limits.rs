//! Rate limits counted in shared state by two limiters — two gateway
//! instances — on one real Redis, and on the memory adapter all-in-one.
//! Time is a manual clock moved by the test, never slept.

use cache::{MemorySharedState, RedisConnection, RedisSharedState, SharedState};
use gateway::limits::{Clock, Limit, RateLimitSettings, RateLimiter};
use std::sync::Arc;
use std::time::Duration;

/// 2026-11-25T12:00:30Z: thirty seconds into a one-minute window.
const START_MS: i64 = 1_795_608_030_000;

async fn two_gateways_share_one_count(a: RateLimiter, b: RateLimiter, clock: &Clock) {
    let limit = Limit::new(10, 60);
    let window_end = (START_MS / 60_000 + 1) * 60_000;
    for i in 0..10u64 {
        let via = if i % 2 == 0 { &a } else { &b };
        let v = via.hit("ip", "203.0.113.7", limit).await.unwrap();
        assert!(v.allowed, "request {} refused", i + 1);
        assert_eq!((v.limit, v.remaining, v.reset_ms), (10, 9 - i, window_end), "request {}", i + 1);
    }
    for via in [&a, &b] {
        let v = via.hit("ip", "203.0.113.7", limit).await.unwrap();
        assert!(!v.allowed, "the 11th request passed");
        assert_eq!(v.remaining, 0);
    }
    // Another client and another bucket are counted apart.
    assert!(a.hit("ip", "203.0.113.8", limit).await.unwrap().allowed);
    assert!(b.hit("account", "203.0.113.7", limit).await.unwrap().allowed);

    // Still refused a moment before the window ends, counted afresh after.
    clock.advance(Duration::from_millis((window_end - START_MS - 1) as u64));
    assert!(!b.hit("ip", "203.0.113.7", limit).await.unwrap().allowed);
    clock.advance(Duration::from_millis(1));
    let v = a.hit("ip", "203.0.113.7", limit).await.unwrap();
    assert!(v.allowed);
    assert_eq!((v.remaining, v.reset_ms), (9, window_end + 60_000));
}

#[tokio::test]
async fn two_gateways_on_redis_share_the_limit() {
    let url = vec!["redis://127.0.0.1:6379".to_string()];
    let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    let clock = Clock::manual(START_MS);
    let mut gateways = Vec::new();
    for _ in 0..2 {
        // Each gateway process has its own connection.
        let conn = RedisConnection::connect(&url, false, Duration::from_secs(2)).await.expect("Redis on 6379");
        let shared: Arc<dyn SharedState> = Arc::new(RedisSharedState::new(conn, &prefix));
        gateways.push(RateLimiter::new(RateLimitSettings::default(), shared, clock.clone()));
    }
    let b = gateways.pop().unwrap();
    let a = gateways.pop().unwrap();
    two_gateways_share_one_count(a, b, &clock).await;

    let mut conn = redis::Client::open(url[0].as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await.unwrap();
    assert!(!keys.is_empty(), "the counters were not in Redis");
    for k in keys {
        let ttl: i64 = redis::cmd("PTTL").arg(&k).query_async(&mut conn).await.unwrap();
        assert!(ttl > 0 && ttl <= 65_000, "{k} expires in {ttl} ms");
        let _: i64 = redis::cmd("DEL").arg(&k).query_async(&mut conn).await.unwrap();
    }
}

#[tokio::test]
async fn the_memory_adapter_limits_the_same_way() {
    let clock = Clock::manual(START_MS);
    let shared: Arc<dyn SharedState> = Arc::new(MemorySharedState::new());
    let a = RateLimiter::new(RateLimitSettings::default(), shared.clone(), clock.clone());
    let b = RateLimiter::new(RateLimitSettings::default(), shared, clock.clone());
    two_gateways_share_one_count(a, b, &clock).await;
}

/// A guesser sending as fast as it can on both sides of a window boundary
/// gets the limit once, not twice (a fixed window would allow 2 × 10).
async fn a_sliding_window_allows_no_burst_across_a_boundary(a: RateLimiter, b: RateLimiter, clock: &Clock) {
    let limit = Limit::new(10, 60);
    let boundary = (START_MS / 60_000 + 1) * 60_000;
    // Quiet until two seconds before the boundary.
    clock.advance(Duration::from_millis((boundary - START_MS - 2_000) as u64));
    let mut allowed = 0;
    let mut refused_until = 0;
    for i in 0..40 {
        let via = if i % 2 == 0 { &a } else { &b };
        let v = via.hit_sliding("pw", "203.0.113.7", limit).await.unwrap();
        if v.allowed {
            allowed += 1;
        } else {
            assert!(v.reset_ms > clock.now_ms(), "a refusal says when to come back");
            refused_until = v.reset_ms;
        }
        clock.advance(Duration::from_millis(100));
    }
    assert_eq!(allowed, 10, "two seconds either side of the boundary");
    // Told when to come back, it may come back then.
    clock.advance(Duration::from_millis((refused_until - clock.now_ms()).max(0) as u64));
    assert!(a.hit_sliding("pw", "203.0.113.7", limit).await.unwrap().allowed);
    // Other clients are counted apart.
    assert!(a.hit_sliding("pw", "198.51.100.1", limit).await.unwrap().allowed);
}

#[tokio::test]
async fn the_sliding_window_holds_across_a_boundary_on_redis_and_in_memory() {
    let url = vec!["redis://127.0.0.1:6379".to_string()];
    let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    let clock = Clock::manual(START_MS);
    let conn = RedisConnection::connect(&url, false, Duration::from_secs(2)).await.expect("Redis on 6379");
    let shared: Arc<dyn SharedState> = Arc::new(RedisSharedState::new(conn, &prefix));
    let a = RateLimiter::new(RateLimitSettings::default(), shared.clone(), clock.clone());
    let b = RateLimiter::new(RateLimitSettings::default(), shared, clock.clone());
    a_sliding_window_allows_no_burst_across_a_boundary(a, b, &clock).await;
    let mut conn = redis::Client::open(url[0].as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await.unwrap();
    assert!(!keys.is_empty(), "the counters were not in Redis");
    for k in keys {
        let _: i64 = redis::cmd("DEL").arg(&k).query_async(&mut conn).await.unwrap();
    }

    let clock = Clock::manual(START_MS);
    let shared: Arc<dyn SharedState> = Arc::new(MemorySharedState::new());
    let a = RateLimiter::new(RateLimitSettings::default(), shared.clone(), clock.clone());
    let b = RateLimiter::new(RateLimitSettings::default(), shared, clock.clone());
    a_sliding_window_allows_no_burst_across_a_boundary(a, b, &clock).await;
}
