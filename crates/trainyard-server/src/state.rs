//! Shared state of the server and the write path that keeps the list index in commit order.

use crate::config::ServerConfig;
use crate::error::{HttpError, HttpResult};
use crate::supervisor::Supervisor;
use parking_lot::RwLock;
use std::sync::Arc;
use trainyard_index::{ListIndex, Row};
use trainyard_store::{Store, Writer};

/// A change to apply to the list index after a committed write.
#[derive(Debug)]
pub enum IndexOp {
    /// Nothing changes in the list.
    None,
    /// Insert or replace a job's row.
    Upsert {
        /// Project.
        project: String,
        /// Workspace.
        workspace: String,
        /// The row.
        row: Row,
    },
    /// Remove a job.
    Remove {
        /// Project.
        project: String,
        /// Workspace.
        workspace: String,
        /// The job.
        job_id: i64,
    },
    /// Many new jobs of one project (import), each with its workspace.
    Bulk {
        /// Project.
        project: String,
        /// (workspace, row) in id order.
        rows: Vec<(String, Row)>,
    },
}

impl IndexOp {
    /// Applies the change.
    pub fn apply(self, ix: &mut ListIndex) {
        match self {
            IndexOp::None => {}
            IndexOp::Upsert {
                project,
                workspace,
                row,
            } => ix.upsert(&project, &workspace, row),
            IndexOp::Remove {
                project,
                workspace,
                job_id,
            } => {
                ix.remove(&project, &workspace, job_id);
            }
            IndexOp::Bulk { project, rows } => {
                let mut by_ws: Vec<(String, Vec<Row>)> = Vec::new();
                for (ws, row) in rows {
                    match by_ws.iter_mut().find(|(w, _)| *w == ws) {
                        Some((_, v)) => v.push(row),
                        None => by_ws.push((ws, vec![row])),
                    }
                }
                for (ws, rows) in by_ws {
                    ix.bulk_insert(&project, &ws, rows);
                }
            }
        }
    }
}

/// Everything a handler needs.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Configuration.
    pub config: Arc<ServerConfig>,
    /// The store (source of truth).
    pub store: Arc<Store>,
    /// The list index (rebuilt at start, updated after every committed write).
    pub index: Arc<RwLock<ListIndex>>,
    /// Runs versions (owns every status change after creation).
    pub supervisor: Arc<Supervisor>,
    /// Authentication: the access-key secret sealer and the brute-force table.
    pub auth: Arc<crate::auth::AuthState>,
    /// The exclusive lock on the data directory, held for the server's life.
    pub data_lock: Arc<crate::datadir::DataDirLock>,
}

impl AppState {
    /// Runs a write on a blocking thread: `f` gets the locked writer and returns its result and
    /// the index change. The change is applied in commit order (a commit ticket taken while the
    /// writer is held), after the writer is released, so the next transaction can commit while
    /// this one's index change (e.g. an import's merge) is applied. The call returns after its
    /// change is in the index (a list made after the answer sees the write).
    pub async fn write<T, F>(&self, f: F) -> HttpResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Writer<'_>) -> HttpResult<(T, IndexOp)> + Send + 'static,
    {
        let store = self.store.clone();
        let index = self.index.clone();
        tokio::task::spawn_blocking(move || {
            let mut w = store.writer();
            let (out, op) = f(&mut w)?;
            w.into_ticket().apply(|| op.apply(&mut index.write()));
            Ok::<T, HttpError>(out)
        })
        .await?
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
