//! The supervisor: the single owner of every status change of a version after it is created
//! (`statuses.md` "Transitions"). Handlers create versions and ask it to stop or forget them.
//!
//! This first version has no executor: versions stay in 1 JOBSTAT_INIT until one is wired in;
//! a stop of a version that has not started cancels it (13), as `training-jobs.md` §7 says.

use crate::error::{HttpError, HttpResult};
use crate::state::{IndexOp, now_ms};
use parking_lot::RwLock;
use std::sync::Arc;
use tokio::sync::Notify;
use trainyard_api::error::{ApiError, ErrorCode};
use trainyard_api::status::JobStatus;
use trainyard_index::ListIndex;
use trainyard_store::{StatusUpdate, Store, StoreError, VersionRecord};

/// See module docs.
#[derive(Debug)]
pub struct Supervisor {
    store: Arc<Store>,
    index: Arc<RwLock<ListIndex>>,
    wake: Notify,
}

impl Supervisor {
    /// A supervisor over this store and index.
    pub fn new(store: Arc<Store>, index: Arc<RwLock<ListIndex>>) -> Supervisor {
        Supervisor {
            store,
            index,
            wake: Notify::new(),
        }
    }

    /// A version was created: schedule it.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops a version of `project` (`training-jobs.md` §7). Returns once the new status is
    /// stored. Errors: 404 if it does not exist in the project, 409 if its status forbids it.
    pub async fn stop(&self, project: &str, job_id: i64, version_id: i64) -> HttpResult<()> {
        let store = self.store.clone();
        let index = self.index.clone();
        let project = project.to_owned();
        tokio::task::spawn_blocking(move || {
            let (job, v) = store.get_version(&project, job_id, version_id)?;
            match v.status {
                JobStatus::Killing => Ok(()),
                s if s.is_cancelable() => {
                    let now = now_ms();
                    let mut up = StatusUpdate::to(JobStatus::Canceled);
                    up.end_time = Some(now);
                    up.duration = Some(0);
                    up.status_reason = Some("canceled by a user before it started".into());
                    up.expect = Some(vec![s]);
                    let mut w = store.writer();
                    let (_, _, row) = w.update_status(version_id, &up).map_err(|e| match e {
                        StoreError::Conflict(st) => conflict(st),
                        other => HttpError::from(other),
                    })?;
                    if let Some(row) = row {
                        IndexOp::Upsert {
                            project,
                            workspace: job.workspace_id,
                            row,
                        }
                        .apply(&mut index.write());
                    }
                    Ok(())
                }
                s => Err(conflict(s)),
            }
        })
        .await?
    }

    /// Versions were deleted: stop whatever of them still runs.
    pub async fn forget(&self, _versions: &[VersionRecord]) {}
}

fn conflict(st: JobStatus) -> HttpError {
    HttpError(ApiError::new(
        ErrorCode::StatusConflict,
        format!(
            "a version in status {} ({}) cannot be stopped",
            st.name(),
            st.code()
        ),
    ))
}
