//! Named training-job configs (`training-jobs.md` §14), kept in the `training_job_configs`
//! table (migration 4 of `schema.rs`).
//!
//! A config is a project-scoped, reusable set of the flat fields of a job `config`, stored as
//! one JSON object. The caller (the server) has validated the name, the description and the
//! fields; the store keeps them and answers the list with plain SQL (configs are few): the
//! filter is a literal substring test on the folded name (`instr`, like
//! [`Store::list_jobs_sql`]), the order is total (ties by `config_name` in the same direction).

use crate::{Store, StoreError, Writer};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};
use trainyard_api::list::Order;
use trainyard_api::text::search_fold;

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

pub use trainyard_api::configs::{ConfigListQuery, ConfigSortKey};

const COLUMNS: &str = "project_id, config_name, config_desc, config, create_time, update_time";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(ConfigRecord, String)> {
    Ok((
        ConfigRecord {
            project_id: r.get(0)?,
            config_name: r.get(1)?,
            config_desc: r.get(2)?,
            config: Map::new(),
            create_time: r.get(4)?,
            update_time: r.get(5)?,
        },
        r.get(3)?,
    ))
}

fn decode((mut rec, json): (ConfigRecord, String)) -> Result<ConfigRecord, StoreError> {
    rec.config = serde_json::from_str(&json)?;
    Ok(rec)
}

fn get(conn: &Connection, project: &str, name: &str) -> Result<ConfigRecord, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM training_job_configs WHERE project_id = ?1 AND config_name = ?2"
    ))?;
    let row = stmt
        .query_row(params![project, name], from_row)
        .optional()?
        .ok_or(StoreError::NotFound)?;
    decode(row)
}

impl Store {
    /// The config `name` of `project`. Errors: `NotFound`.
    pub fn get_config(&self, project: &str, name: &str) -> Result<ConfigRecord, StoreError> {
        get(&self.read(), project, name)
    }

    /// One page of the configs of `project` and the number that pass the filter
    /// (`config_total_count`).
    pub fn list_configs(
        &self,
        project: &str,
        q: &ConfigListQuery,
    ) -> Result<(u64, Vec<ConfigRecord>), StoreError> {
        let conn = self.read();
        let folded = search_fold(&q.search_content);
        let filter = "FROM training_job_configs
             WHERE project_id = ?1 AND (?2 = '' OR instr(config_name_folded, ?2) > 0)";
        let total: i64 = conn.query_row(
            &format!("SELECT COUNT(*) {filter}"),
            params![project, folded],
            |r| r.get(0),
        )?;
        let dir = if q.order == Order::Desc {
            "DESC"
        } else {
            "ASC"
        };
        let order = match q.sort_by {
            ConfigSortKey::ConfigName => format!("config_name {dir}"),
            ConfigSortKey::ConfigDesc => format!("config_desc {dir}, config_name {dir}"),
            ConfigSortKey::CreateTime => format!("create_time {dir}, config_name {dir}"),
        };
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} {filter} ORDER BY {order} LIMIT ?3 OFFSET ?4"
        ))?;
        let rows = stmt
            .query_map(
                params![
                    project,
                    folded,
                    i64::from(q.per_page),
                    i64::try_from(q.offset()).unwrap_or(i64::MAX)
                ],
                from_row,
            )?
            .collect::<Result<Vec<_>, _>>()?;
        let rows = rows
            .into_iter()
            .map(decode)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((total as u64, rows))
    }
}

impl Writer<'_> {
    /// Creates a config (one transaction). Errors: `DuplicateName` when `name` is already a
    /// config of `project` (exact, case-sensitive comparison).
    pub fn create_config(
        &mut self,
        project: &str,
        name: &str,
        desc: &str,
        config: &Map<String, Value>,
        now_ms: i64,
    ) -> Result<ConfigRecord, StoreError> {
        let json = serde_json::to_string(config)?;
        let tx = self.tx()?;
        let inserted = tx.execute(
            "INSERT INTO training_job_configs
                (project_id, config_name, config_name_folded, config_desc, config, create_time, update_time)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            params![project, name, search_fold(name), desc, json, now_ms],
        );
        match inserted {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
            {
                return Err(StoreError::DuplicateName {
                    name: name.to_owned(),
                    line: None,
                });
            }
            other => {
                other?;
            }
        }
        let rec = get(&tx, project, name)?;
        tx.commit()?;
        Ok(rec)
    }

    /// Updates a config (one transaction): `desc` replaces the description and `config` the
    /// whole field set, each only when given. Errors: `NotFound`.
    pub fn update_config(
        &mut self,
        project: &str,
        name: &str,
        desc: Option<&str>,
        config: Option<&Map<String, Value>>,
        now_ms: i64,
    ) -> Result<ConfigRecord, StoreError> {
        let json = config.map(serde_json::to_string).transpose()?;
        let tx = self.tx()?;
        let n = tx.execute(
            "UPDATE training_job_configs
                SET config_desc = COALESCE(?3, config_desc),
                    config = COALESCE(?4, config),
                    update_time = ?5
              WHERE project_id = ?1 AND config_name = ?2",
            params![project, name, desc, json, now_ms],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        let rec = get(&tx, project, name)?;
        tx.commit()?;
        Ok(rec)
    }

    /// Deletes a config (one transaction). Errors: `NotFound`.
    pub fn delete_config(&mut self, project: &str, name: &str) -> Result<(), StoreError> {
        let tx = self.tx()?;
        let n = tx.execute(
            "DELETE FROM training_job_configs WHERE project_id = ?1 AND config_name = ?2",
            params![project, name],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite")).unwrap();
        (dir, store)
    }

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test values are objects"),
        }
    }

    fn names(rows: &[ConfigRecord]) -> Vec<&str> {
        rows.iter().map(|r| r.config_name.as_str()).collect()
    }

    #[test]
    fn configs_round_trip_and_stay_in_their_project() {
        let (_d, store) = open();
        let cfg = obj(json!({"spec_id": 1, "worker_server_num": 2, "dataset_id": "d1"}));
        {
            let mut w = store.writer();
            let rec = w.create_config("p1", "gpu", "desc", &cfg, 1000).unwrap();
            assert_eq!(rec.config, cfg);
            assert_eq!((rec.create_time, rec.update_time), (1000, 1000));
            assert!(matches!(
                w.create_config("p1", "gpu", "", &Map::new(), 1001),
                Err(StoreError::DuplicateName { .. })
            ));
            // case-sensitive names, and another project's namespace
            w.create_config("p1", "GPU", "", &Map::new(), 1002).unwrap();
            w.create_config("p2", "gpu", "", &Map::new(), 1003).unwrap();
        }
        let got = store.get_config("p1", "gpu").unwrap();
        assert_eq!(got.config_desc, "desc");
        assert_eq!(got.config, cfg);
        assert!(store.get_config("p3", "gpu").is_err());

        let new_cfg = obj(json!({"user_command": "true"}));
        let mut w = store.writer();
        let rec = w
            .update_config("p1", "gpu", None, Some(&new_cfg), 2000)
            .unwrap();
        assert_eq!(rec.config_desc, "desc");
        assert_eq!(rec.config, new_cfg);
        assert_eq!((rec.create_time, rec.update_time), (1000, 2000));
        let rec = w.update_config("p1", "gpu", Some(""), None, 3000).unwrap();
        assert_eq!(rec.config_desc, "");
        assert_eq!(rec.config, new_cfg);
        assert!(matches!(
            w.update_config("p1", "nope", Some("x"), None, 1),
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            w.delete_config("p3", "gpu"),
            Err(StoreError::NotFound)
        ));
        w.delete_config("p1", "gpu").unwrap();
        assert!(matches!(
            w.delete_config("p1", "gpu"),
            Err(StoreError::NotFound)
        ));
        drop(w);
        assert!(matches!(
            store.get_config("p1", "gpu"),
            Err(StoreError::NotFound)
        ));
        assert!(store.get_config("p2", "gpu").is_ok());
    }

    #[test]
    fn list_filters_sorts_and_pages_in_sql() {
        let (_d, store) = open();
        {
            let mut w = store.writer();
            // (name, desc, create_time)
            for (n, d, t) in [
                ("b_x", "same", 30),
                ("a%y", "same", 10),
                ("C-z", "zz", 20),
                ("bax", "", 30),
            ] {
                w.create_config("p", n, d, &Map::new(), t).unwrap();
            }
            w.create_config("other", "b_other", "", &Map::new(), 5)
                .unwrap();
        }
        let list = |q: ConfigListQuery| store.list_configs("p", &q).unwrap();
        // default: config_name desc, byte order (upper case before lower case)
        let (n, rows) = list(ConfigListQuery::default());
        assert_eq!(n, 4);
        assert_eq!(names(&rows), ["bax", "b_x", "a%y", "C-z"]);
        let asc = |sort_by| ConfigListQuery {
            sort_by,
            order: Order::Asc,
            ..ConfigListQuery::default()
        };
        assert_eq!(
            names(&list(asc(ConfigSortKey::ConfigName)).1),
            ["C-z", "a%y", "b_x", "bax"]
        );
        // ties (desc "same", time 30) broken by name in the same direction
        assert_eq!(
            names(&list(asc(ConfigSortKey::ConfigDesc)).1),
            ["bax", "a%y", "b_x", "C-z"]
        );
        assert_eq!(
            names(&list(asc(ConfigSortKey::CreateTime)).1),
            ["a%y", "C-z", "b_x", "bax"]
        );
        let desc_time = ConfigListQuery {
            sort_by: ConfigSortKey::CreateTime,
            ..ConfigListQuery::default()
        };
        assert_eq!(names(&list(desc_time).1), ["bax", "b_x", "C-z", "a%y"]);
        // literal, case-insensitive search; the total counts after the filter
        let search = |s: &str| ConfigListQuery {
            search_content: s.into(),
            order: Order::Asc,
            ..ConfigListQuery::default()
        };
        let (n, rows) = list(search("_"));
        assert_eq!((n, names(&rows)), (1, vec!["b_x"]));
        let (n, rows) = list(search("%"));
        assert_eq!((n, names(&rows)), (1, vec!["a%y"]));
        let (n, rows) = list(search("c-Z"));
        assert_eq!((n, names(&rows)), (1, vec!["C-z"]));
        // paging: page 2 of 3 per page, and a page past the end
        let page = |page| ConfigListQuery {
            per_page: 3,
            page,
            order: Order::Asc,
            ..ConfigListQuery::default()
        };
        let (n, rows) = list(page(2));
        assert_eq!((n, names(&rows)), (4, vec!["bax"]));
        let (n, rows) = list(page(3));
        assert_eq!((n, rows.len()), (4, 0));
    }
}
