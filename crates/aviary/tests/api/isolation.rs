//! Each component owns its data: its own SQLite file or PostgreSQL schema,
//! and no component
//! reaches into another's store or service internals.

use std::collections::BTreeSet;
use testkit::System;

/// The tables of one component's store: its SQLite file, or its schema.
async fn tables(server: &System, component: &str) -> BTreeSet<String> {
    let names: Vec<String> = match server.store().database_url() {
        None => {
            let path = server.store().data_dir().join(format!("{component}.sqlite3"));
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", path.display()))
                .await
                .expect("the component database opens");
            let names =
                sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            pool.close().await;
            names
        }
        Some(url) => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let names =
                sqlx::query_scalar("SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1")
                    .bind(component)
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            pool.close().await;
            names
        }
    };
    names.into_iter().filter(|n| n != "_sqlx_migrations" && n != "outbox").collect()
}

#[tokio::test]
async fn each_component_has_its_own_store_with_disjoint_tables() {
    let s = crate::start().await;
    let api = s.api();
    let u = api.sign_up("isolated").await;
    api.post(&u, "hello", "public").await;
    let users = tables(&s, "users").await;
    let posts = tables(&s, "posts").await;
    assert!(users.contains("accounts") && users.contains("follows") && users.contains("tokens"), "{users:?}");
    assert!(posts.contains("posts") && posts.contains("author_stats"), "{posts:?}");
    assert!(users.is_disjoint(&posts), "shared tables: {:?}", users.intersection(&posts).collect::<Vec<_>>());
}

/// Components that call others may only use their client traits: no
/// concrete service, no SQL, in `gateway` or `timelines`; `users` and
/// `posts` do not depend on each other at all.
#[test]
fn components_reach_each_other_only_through_client_traits() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (krate, forbidden) in [
        ("gateway", &["UsersService", "PostsService", "TimelinesService", "sqlx"][..]),
        ("timelines", &["UsersService", "PostsService", "sqlx"][..]),
    ] {
        for entry in walk(&root.join(krate).join("src")) {
            let text = std::fs::read_to_string(&entry).unwrap();
            for f in forbidden {
                assert!(!text.contains(f), "{} mentions {f}", entry.display());
            }
        }
    }
    for (krate, other) in [("users", "posts"), ("posts", "users")] {
        let manifest = std::fs::read_to_string(root.join(krate).join("Cargo.toml")).unwrap();
        assert!(!manifest.lines().any(|l| l.trim_start().starts_with(other)), "{krate} depends on {other}");
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}
