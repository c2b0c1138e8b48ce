//! The id of the request a task serves, for everything below the HTTP layer that wants to
//! name it: log spans, and each plugin call (passed on as `x-request-id`).
//!
//! The HTTP layer runs each request inside [`scope`]; code elsewhere reads [`current`].

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs `future` as the work of request `id`.
pub async fn scope<F: std::future::Future>(id: String, future: F) -> F::Output {
    REQUEST_ID.scope(id, future).await
}

/// The id of the request being served, when the caller runs inside one.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}
