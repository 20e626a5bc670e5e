//! `posts` across processes: [`internal_router`] serves [`PostsApi`] under
//! `/internal/posts/<method>`, and [`RemotePosts`] implements the same trait
//! by calling it through the client-side pool.

use crate::*;
use async_trait::async_trait;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use bytes::Bytes;
use model::{Id, Page};
use platform::rpc::{CallError, RpcClient, WireError, reply};
use std::sync::Arc;

fn to_wire(e: PostsError) -> WireError {
    match e {
        PostsError::Validation(m) => WireError::new("validation", m),
        PostsError::NotFound => WireError::new("not_found", "record not found"),
        PostsError::Unavailable(m) => WireError::new("unavailable", m),
        PostsError::Unexpected(err) => {
            tracing::error!(error = %format!("{err:#}"), "posts call failed");
            WireError::new("unexpected", "internal error in posts")
        }
    }
}

fn from_call(e: CallError) -> PostsError {
    match e {
        CallError::Unavailable(m) => PostsError::Unavailable(m),
        CallError::Remote(w) => match w.kind.as_str() {
            "validation" => PostsError::Validation(w.message),
            "not_found" => PostsError::NotFound,
            _ => PostsError::Unexpected(anyhow::anyhow!("posts: {}", w.message)),
        },
    }
}

/// Serves `api` to other components.
pub fn internal_router(api: Arc<dyn PostsApi>) -> Router {
    Router::new().route("/internal/posts/{method}", axum::routing::post(dispatch)).with_state(api)
}

async fn dispatch(State(api): State<Arc<dyn PostsApi>>, Path(method): Path<String>, body: Bytes) -> Response {
    macro_rules! call {
        ($($arm:tt)*) => { platform::rpc_call!(body, to_wire, $($arm)*) };
    }
    match method.as_str() {
        "create" => call!((p: NewPost) => api.create(p)),
        "get" => call!((id: Id) => api.get(id)),
        "get_many" => call!((ids: Vec<Id>) => api.get_many(&ids)),
        "delete" => call!((id: Id, requester: Id) => api.delete(id, requester)),
        "by_author" => call!((author: Id, private: bool, no_replies: bool, page: Page) =>
            api.by_author(author, private, no_replies, &page)),
        "by_author_ids" => call!((author: Id, private: bool, no_replies: bool, page: Page) =>
            api.by_author_ids(author, private, no_replies, &page)),
        "public" => call!((page: Page) => api.public(&page)),
        "context" => call!((id: Id) => api.context(id)),
        "recent_by_authors" => call!((authors: Vec<Id>, max_id: Option<Id>, limit: usize) =>
            api.recent_by_authors(&authors, max_id, limit)),
        "earliest_by_authors" => call!((authors: Vec<Id>, min_id: Id, limit: usize) =>
            api.earliest_by_authors(&authors, min_id, limit)),
        "replies_to" => {
            call!((account: Id, authors: Vec<Id>, limit: usize) => api.replies_to(account, &authors, limit))
        }
        "author_stats" => call!((authors: Vec<Id>) => api.author_stats(&authors)),
        "post_count" => call!(() => api.post_count()),
        other => reply::<()>(Err(WireError::new("bad_request", format!("posts has no method {other:?}")))),
    }
}

/// [`PostsApi`] over the network.
#[derive(Clone)]
pub struct RemotePosts(pub RpcClient);

impl RemotePosts {
    /// A call that only reads: retried on another instance if one fails.
    async fn read<A: serde::Serialize, R: serde::de::DeserializeOwned>(&self, method: &str, a: A) -> Result<R> {
        self.0.read(method, &a).await.map_err(from_call)
    }

    /// A call that changes state: never repeated once it may have arrived.
    async fn write<A: serde::Serialize, R: serde::de::DeserializeOwned>(&self, method: &str, a: A) -> Result<R> {
        self.0.write(method, &a).await.map_err(from_call)
    }
}

#[async_trait]
impl PostsApi for RemotePosts {
    async fn create(&self, post: NewPost) -> Result<PostRecord> {
        self.write("create", (post,)).await
    }
    async fn get(&self, id: Id) -> Result<Option<PostRecord>> {
        self.read("get", (id,)).await
    }
    async fn get_many(&self, ids: &[Id]) -> Result<Vec<PostRecord>> {
        self.read("get_many", (ids,)).await
    }
    async fn delete(&self, id: Id, requester: Id) -> Result<PostRecord> {
        self.write("delete", (id, requester)).await
    }
    async fn by_author(
        &self,
        author: Id,
        include_private: bool,
        exclude_replies: bool,
        page: &Page,
    ) -> Result<Vec<PostRecord>> {
        self.read("by_author", (author, include_private, exclude_replies, page)).await
    }
    async fn by_author_ids(
        &self,
        author: Id,
        include_private: bool,
        exclude_replies: bool,
        page: &Page,
    ) -> Result<Vec<Id>> {
        self.read("by_author_ids", (author, include_private, exclude_replies, page)).await
    }
    async fn public(&self, page: &Page) -> Result<Vec<PostRecord>> {
        self.read("public", (page,)).await
    }
    async fn context(&self, id: Id) -> Result<(Vec<PostRecord>, Vec<PostRecord>)> {
        self.read("context", (id,)).await
    }
    async fn recent_by_authors(&self, authors: &[Id], max_id: Option<Id>, limit: usize) -> Result<Vec<PostRef>> {
        self.read("recent_by_authors", (authors, max_id, limit)).await
    }
    async fn earliest_by_authors(&self, authors: &[Id], min_id: Id, limit: usize) -> Result<Vec<PostRef>> {
        self.read("earliest_by_authors", (authors, min_id, limit)).await
    }
    async fn replies_to(&self, account: Id, authors: &[Id], limit: usize) -> Result<Vec<PostRef>> {
        self.read("replies_to", (account, authors, limit)).await
    }
    async fn author_stats(&self, authors: &[Id]) -> Result<Vec<AuthorStats>> {
        self.read("author_stats", (authors,)).await
    }
    async fn post_count(&self) -> Result<u64> {
        self.read("post_count", ()).await
    }
}
