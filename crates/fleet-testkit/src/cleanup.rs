//! Cleaning up after a failed test: a real-service test deletes its queues and keys
//! itself when it passes; when it panics, a `Drop` guard calls [`after_panic`] so the
//! shared RabbitMQ and Redis are left as they were either way.

use std::future::Future;

/// When this thread is panicking, runs `cleanup` to completion and returns; otherwise
/// does nothing. The test's runtime is unwinding, so the cleanup runs on a thread with a
/// runtime of its own (it should open its own connections). A failing cleanup is
/// ignored: the test has already failed.
pub fn after_panic<F, Fut>(cleanup: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    if !std::thread::panicking() {
        return;
    }
    let _ = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(cleanup());
    })
    .join();
}
