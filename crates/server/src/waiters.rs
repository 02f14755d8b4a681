//! Wake whoever waits for a request to change: benchmarks and tests wait for a message to land
//! without polling the store in a loop.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

#[derive(Debug, Default)]
pub struct Waiters {
    map: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Waiters {
    /// Something about `request_id` changed (it was written and committed).
    pub fn changed(&self, request_id: &str) {
        let n = self
            .map
            .lock()
            .ok()
            .and_then(|m| m.get(request_id).cloned());
        if let Some(n) = n {
            n.notify_waiters();
        }
    }

    /// Wait until `check` returns `Some`, re-checking after every change to `request_id`, at
    /// most `timeout` in all. `None` when time ran out.
    pub async fn wait_for<T, F, Fut>(
        &self,
        request_id: &str,
        timeout: Duration,
        mut check: F,
    ) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let notify = {
            let mut map = self.map.lock().ok()?;
            map.entry(request_id.to_owned()).or_default().clone()
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let found = loop {
            let notified = notify.notified();
            tokio::pin!(notified);
            // Register before checking, so a change between check and wait is not lost.
            notified.as_mut().enable();
            if let Some(v) = check().await {
                break Some(v);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break check().await;
            }
        };
        if let Ok(mut map) = self.map.lock() {
            // Drop the entry when nobody else holds it (2 = the map's and ours).
            if map
                .get(request_id)
                .is_some_and(|n| Arc::strong_count(n) <= 2)
            {
                map.remove(request_id);
            }
        }
        found
    }
}
