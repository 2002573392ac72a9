//! Shared state of the server. The store keeps the list index in commit order itself: every
//! store write returns after its change is in [`Store::index`].

use crate::config::ServerConfig;
use crate::error::HttpResult;
use crate::supervisor::Supervisor;
use std::sync::Arc;
use trainyard_store::Store;

/// Everything a handler needs.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Configuration.
    pub config: Arc<ServerConfig>,
    /// The store (source of truth) and its list index (`store.index()`).
    pub store: Arc<Store>,
    /// Runs versions (owns every status change after creation).
    pub supervisor: Arc<Supervisor>,
    /// Authentication: the access-key secret sealer and the brute-force table.
    pub auth: Arc<crate::auth::AuthState>,
    /// The exclusive lock on the data directory, held for the server's life.
    pub data_lock: Arc<crate::datadir::DataDirLock>,
    /// Worker containment: allowed roots (checked at create), identities.
    pub workers: Arc<crate::sandbox::WorkerPolicy>,
}

impl AppState {
    /// Runs a store write on a blocking thread. Store writes return after their change is in
    /// the list index (a list made after the answer sees the write).
    pub async fn write<T, F>(&self, f: F) -> HttpResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> HttpResult<T> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store)).await?
    }

    /// Makes the list index reflect every write committed before this call, by any server on
    /// the store's database (a no-op for SQLite, where this server makes every write):
    /// [`Store::sync_index`] on a blocking thread. Errors: 503 when the database does not
    /// answer.
    pub async fn sync_index(&self) -> HttpResult<()> {
        if !self.store.is_shared() {
            return Ok(());
        }
        self.read(|st| Ok(st.sync_index()?)).await
    }

    /// Runs a read on a blocking thread.
    pub async fn read<T, F>(&self, f: F) -> HttpResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> HttpResult<T> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store)).await?
    }
}

/// Now, in epoch milliseconds (UTC).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
