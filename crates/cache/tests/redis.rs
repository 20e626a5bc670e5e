//! The Redis adapter passes the cache contract on a real single node and on
//! a real 3-master Redis Cluster started for the test.

use cache::{RedisConnection, RedisTimelineCache, TimelineCache};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SINGLE: &str = "redis://127.0.0.1:6379";

/// Deletes the keys under a test's prefix when dropped — also when the test
/// panics, so a failing run leaves nothing on the shared Redis.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let pattern = format!("{}*", self.0);
        let _ = std::thread::spawn(move || {
            let Ok(client) = redis::Client::open(SINGLE) else { return };
            let Ok(mut conn) = client.get_connection() else { return };
            let keys: Vec<String> = redis::cmd("KEYS").arg(&pattern).query(&mut conn).unwrap_or_default();
            for chunk in keys.chunks(500) {
                let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(chunk).query(&mut conn);
            }
        })
        .join();
    }
}

#[tokio::test]
async fn redis_cache_passes_the_contract_on_a_single_node() {
    let conn = RedisConnection::connect(&[SINGLE.to_string()], false, Duration::from_secs(2))
        .await
        .expect("Redis answers on 127.0.0.1:6379 (.ci/run starts it)");
    let run = uuid::Uuid::new_v4().simple().to_string();
    let _cleanup = Cleanup(format!("test:{run}:"));
    let prefixes = std::sync::Mutex::new(Vec::new());
    cache::contract::run_all(|cap| {
        let prefix = format!("test:{run}:{}:", prefixes.lock().unwrap().len());
        prefixes.lock().unwrap().push(prefix.clone());
        let conn = conn.clone();
        async move { RedisTimelineCache::new(conn, &prefix, cap) }
    })
    .await;
    let idle = Duration::from_millis(400);
    let expiring = RedisTimelineCache::with_idle_expiry(conn.clone(), &format!("test:{run}:idle:"), 800, idle);
    cache::contract::unread_timelines_expire_and_fan_out_does_not_renew(&expiring).await;
}

/// Three `redis-server --cluster-enabled yes` processes on spare ports,
/// joined with `redis-cli --cluster create`; killed on drop.
struct LocalCluster {
    _dir: tempfile::TempDir,
    children: Vec<Child>,
    ports: Vec<u16>,
}

fn spare_port() -> u16 {
    loop {
        let p = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // The cluster bus listens on port + 10000; it must be free as well.
        if p < 55535 && std::net::TcpListener::bind(("127.0.0.1", p + 10000)).is_ok() {
            return p;
        }
    }
}

impl LocalCluster {
    fn start() -> LocalCluster {
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<u16> = (0..3).map(|_| spare_port()).collect();
        let children = ports
            .iter()
            .map(|p| {
                let d = dir.path().join(p.to_string());
                std::fs::create_dir_all(&d).unwrap();
                Command::new("redis-server")
                    .args(["--port", &p.to_string(), "--bind", "127.0.0.1", "--cluster-enabled", "yes"])
                    .args(["--cluster-config-file", "nodes.conf", "--save", "", "--appendonly", "no"])
                    .arg("--dir")
                    .arg(&d)
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("redis-server is installed")
            })
            .collect();
        let cluster = LocalCluster { _dir: dir, children, ports };
        for p in &cluster.ports {
            cluster.wait_for(*p, "PONG", &["ping"]);
        }
        let mut create = Command::new("redis-cli");
        create.args(["--cluster", "create"]);
        for p in &cluster.ports {
            create.arg(format!("127.0.0.1:{p}"));
        }
        let out = create.args(["--cluster-replicas", "0", "--cluster-yes"]).output().unwrap();
        assert!(out.status.success(), "cluster create failed: {}", String::from_utf8_lossy(&out.stdout));
        for p in &cluster.ports {
            cluster.wait_for(*p, "cluster_state:ok", &["cluster", "info"]);
        }
        cluster
    }

    fn wait_for(&self, port: u16, want: &str, args: &[&str]) {
        for _ in 0..100 {
            let out = Command::new("redis-cli").args(["-p", &port.to_string()]).args(args).output().unwrap();
            if String::from_utf8_lossy(&out.stdout).contains(want) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("redis on port {port} never answered {want}");
    }

    fn urls(&self) -> Vec<String> {
        self.ports.iter().map(|p| format!("redis://127.0.0.1:{p}")).collect()
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cache_passes_the_contract_on_a_cluster() {
    let cluster = LocalCluster::start();
    let conn = RedisConnection::connect(&cluster.urls(), true, Duration::from_secs(2)).await.unwrap();
    let n = std::sync::atomic::AtomicUsize::new(0);
    cache::contract::run_all(|cap| {
        let prefix = format!("c{}:", n.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
        let conn = conn.clone();
        async move { RedisTimelineCache::new(conn, &prefix, cap) }
    })
    .await;
    cache::shared::contract::run_all(&cache::RedisSharedState::new(conn.clone(), "shared:")).await;
    // Timelines of different accounts land on different masters (the hash
    // tag is per account), and each still reads back whole.
    let cache = RedisTimelineCache::new(conn.clone(), "spread:", 800);
    for owner in 100..130 {
        let e = cache::Entry::post(model::Id::from_i64(owner * 10), model::Id::from_i64(owner));
        cache.begin_rebuild(model::Id::from_i64(owner)).await.unwrap();
        assert!(cache.finish_rebuild(model::Id::from_i64(owner), &[e]).await.unwrap());
        assert_eq!(cache.page(model::Id::from_i64(owner), &model::Page::first(5)).await.unwrap(), vec![e]);
    }
    let holding = cluster
        .ports
        .iter()
        .filter(|p| {
            let out = Command::new("redis-cli").args(["-p", &p.to_string(), "dbsize"]).output().unwrap();
            String::from_utf8_lossy(&out.stdout).trim() != "0"
        })
        .count();
    assert!(holding >= 2, "timelines should be spread over the cluster's masters");
}

#[tokio::test]
async fn redis_shared_state_passes_the_contract() {
    let conn = RedisConnection::connect(&[SINGLE.to_string()], false, Duration::from_secs(2)).await.unwrap();
    let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    let _cleanup = Cleanup(prefix.clone());
    cache::shared::contract::run_all(&cache::RedisSharedState::new(conn.clone(), &prefix)).await;
}
