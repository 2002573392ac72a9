//! Copying a whole store into another (`trainyard migrate`): accounts, configs, jobs and
//! versions with their ids, sealed secrets and token hashes as they are (the target must use
//! the source's sealing key), and the id counters, so no id is ever handed out twice.

use crate::configs::ConfigRecord;
use crate::{JobRecord, Result, Store, StoreError, VersionRecord};

/// A user row as stored (with its password hash).
#[derive(Clone, Debug)]
pub struct UserRow {
    /// Id.
    pub user_id: i64,
    /// Name.
    pub name: String,
    /// Domain.
    pub domain: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Creation time, epoch ms.
    pub created_at: i64,
    /// Removal time, epoch ms.
    pub removed_at: Option<i64>,
}

/// An access-key row as stored (sealed secret).
#[derive(Clone, Debug)]
pub struct AccessKeyRow {
    /// The access key.
    pub access_key: String,
    /// Sealed secret.
    pub secret_sealed: Vec<u8>,
    /// Owner.
    pub user_id: i64,
    /// Creation time.
    pub created_at: i64,
    /// Revocation time.
    pub revoked_at: Option<i64>,
}

/// A token row as stored (SHA-256 only).
#[derive(Clone, Debug)]
pub struct TokenRowFull {
    /// Hex SHA-256 of the token.
    pub token_sha256: String,
    /// Owner.
    pub user_id: i64,
    /// Project.
    pub project_id: String,
    /// Issue time.
    pub issued_at: i64,
    /// Expiry.
    pub expires_at: i64,
    /// Revocation time.
    pub revoked_at: Option<i64>,
}

/// Everything but the jobs.
#[derive(Clone, Debug, Default)]
pub struct AccountsDump {
    /// Projects.
    pub projects: Vec<crate::auth::ProjectRecord>,
    /// Users (removed ones too).
    pub users: Vec<UserRow>,
    /// (user_id, project_id).
    pub user_projects: Vec<(i64, String)>,
    /// Access keys (revoked ones too).
    pub access_keys: Vec<AccessKeyRow>,
    /// Tokens.
    pub tokens: Vec<TokenRowFull>,
    /// Configs.
    pub configs: Vec<ConfigRecord>,
    /// The sealing key's check value.
    pub key_check: Option<Vec<u8>>,
    /// The next job id and version id the source would hand out.
    pub next_ids: (i64, i64),
}

/// A job with its versions (newest first) and each version's stored `engine_type` (kept
/// apart: a version without an engine, e.g. imported history, still has an engine family).
#[derive(Clone, Debug)]
pub struct JobDump {
    /// The job.
    pub job: JobRecord,
    /// Its versions, newest first.
    pub versions: Vec<VersionRecord>,
    /// `engine_type` of each version, in the same order.
    pub engine_types: Vec<i64>,
}

/// What an engine must offer to be copied from or into.
pub(crate) trait CopyEngine {
    fn dump_accounts(&self) -> Result<AccountsDump>;
    /// Up to `limit` jobs with `job_id > after`, by job id.
    fn dump_jobs(&self, after: i64, limit: usize) -> Result<Vec<JobDump>>;
    /// True when the store holds no job, user, project or config.
    fn is_empty(&self) -> Result<bool>;
    fn restore_accounts(&self, d: &AccountsDump) -> Result<()>;
    fn restore_jobs(&self, jobs: &[JobDump]) -> Result<()>;
    /// Recomputes the per-project job counts from the jobs.
    fn finish_restore(&self) -> Result<()>;
}

/// What [`Store::copy_into`] copied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Jobs.
    pub jobs: u64,
    /// Versions.
    pub versions: u64,
    /// Users.
    pub users: u64,
    /// Access keys.
    pub access_keys: u64,
    /// Tokens.
    pub tokens: u64,
    /// Configs.
    pub configs: u64,
    /// Projects.
    pub projects: u64,
}

impl Store {
    /// Copies everything of this store into `target`, which must be empty. Calls `progress`
    /// with the number of jobs copied so far. Errors: `Conflict`-free; `Backend` when the
    /// target is not empty or an engine cannot be a target.
    pub fn copy_into(&self, target: &Store, mut progress: impl FnMut(u64)) -> Result<CopyReport> {
        let (src, dst) = (self.engine.copy(), target.engine.copy());
        if !dst.is_empty()? {
            return Err(StoreError::Backend(
                "the target store is not empty (it holds jobs, users, projects or configs)".into(),
            ));
        }
        let accounts = src.dump_accounts()?;
        dst.restore_accounts(&accounts)?;
        let mut report = CopyReport {
            users: accounts.users.len() as u64,
            access_keys: accounts.access_keys.len() as u64,
            tokens: accounts.tokens.len() as u64,
            configs: accounts.configs.len() as u64,
            projects: accounts.projects.len() as u64,
            ..CopyReport::default()
        };
        let mut after = 0;
        loop {
            let batch = src.dump_jobs(after, 20_000)?;
            let Some(last) = batch.last() else { break };
            after = last.job.job_id;
            dst.restore_jobs(&batch)?;
            report.jobs += batch.len() as u64;
            report.versions += batch.iter().map(|j| j.versions.len() as u64).sum::<u64>();
            progress(report.jobs);
        }
        dst.finish_restore()?;
        Ok(report)
    }
}
