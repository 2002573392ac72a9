//! Named training-job configs (`training-jobs.md` §14).
//!
//! A config is a project-scoped, reusable set of the flat fields of a job `config`, stored as
//! one JSON object. The caller (the server) has validated the name, the description and the
//! fields; the store keeps them and answers the list with plain SQL (configs are few): the
//! filter is a literal substring test on the folded name (like [`Store::list_jobs_sql`]), the
//! order is total (ties by `config_name` in the same direction). Configs are not in the job
//! list, so their writes change nothing in the index.

use crate::{Store, StoreError};
use serde_json::{Map, Value};

pub use trainyard_api::configs::{ConfigListQuery, ConfigSortKey};

/// One stored config.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigRecord {
    /// The owning project.
    pub project_id: String,
    /// The name: 1–64 characters of `A-Z a-z 0-9 _ -`, unique in the project (case-sensitive).
    pub config_name: String,
    /// The description, 0–256 characters.
    pub config_desc: String,
    /// The flat config fields (as a job's `config`).
    pub config: Map<String, Value>,
    /// Creation time, epoch ms.
    pub create_time: i64,
    /// Time of the last change (creation or update), epoch ms.
    pub update_time: i64,
}

/// How an engine stores configs (each method one transaction; see [`Store`]'s methods).
pub trait ConfigEngine: Send + Sync {
    /// See [`Store::get_config`].
    fn get_config(&self, project: &str, name: &str) -> Result<ConfigRecord, StoreError>;
    /// See [`Store::list_configs`].
    fn list_configs(
        &self,
        project: &str,
        q: &ConfigListQuery,
    ) -> Result<(u64, Vec<ConfigRecord>), StoreError>;
    /// See [`Store::create_config`].
    fn create_config(
        &self,
        project: &str,
        name: &str,
        desc: &str,
        config: &Map<String, Value>,
        now_ms: i64,
    ) -> Result<ConfigRecord, StoreError>;
    /// See [`Store::update_config`].
    fn update_config(
        &self,
        project: &str,
        name: &str,
        desc: Option<&str>,
        config: Option<&Map<String, Value>>,
        now_ms: i64,
    ) -> Result<ConfigRecord, StoreError>;
    /// See [`Store::delete_config`].
    fn delete_config(&self, project: &str, name: &str) -> Result<(), StoreError>;
}

impl Store {
    /// The config `name` of `project`. Errors: `NotFound`.
    pub fn get_config(&self, project: &str, name: &str) -> Result<ConfigRecord, StoreError> {
        self.engine.configs().get_config(project, name)
    }

    /// One page of the configs of `project` and the number that pass the filter
    /// (`config_total_count`).
    pub fn list_configs(
        &self,
        project: &str,
        q: &ConfigListQuery,
    ) -> Result<(u64, Vec<ConfigRecord>), StoreError> {
        self.engine.configs().list_configs(project, q)
    }

    /// Creates a config (one transaction). Errors: `DuplicateName` when `name` is already a
    /// config of `project` (exact, case-sensitive comparison).
    pub fn create_config(
        &self,
        project: &str,
        name: &str,
        desc: &str,
        config: &Map<String, Value>,
        now_ms: i64,
    ) -> Result<ConfigRecord, StoreError> {
        self.engine
            .configs()
            .create_config(project, name, desc, config, now_ms)
    }

    /// Updates a config (one transaction): `desc` replaces the description and `config` the
    /// whole field set, each only when given. Errors: `NotFound`.
    pub fn update_config(
        &self,
        project: &str,
        name: &str,
        desc: Option<&str>,
        config: Option<&Map<String, Value>>,
        now_ms: i64,
    ) -> Result<ConfigRecord, StoreError> {
        self.engine
            .configs()
            .update_config(project, name, desc, config, now_ms)
    }

    /// Deletes a config (one transaction). Errors: `NotFound`.
    pub fn delete_config(&self, project: &str, name: &str) -> Result<(), StoreError> {
        self.engine.configs().delete_config(project, name)
    }
}
