//! Training-job configs in PostgreSQL: the rows behind [`crate::configs`].

use super::{PgStore, is_unique_violation};
use crate::StoreError;
use crate::configs::{ConfigEngine, ConfigListQuery, ConfigRecord, ConfigSortKey};
use postgres::GenericClient;
use serde_json::{Map, Value};
use trainyard_api::list::Order;
use trainyard_api::text::search_fold;

const COLUMNS: &str = "project_id, config_name, config_desc, config, create_time, update_time";

fn from_row(r: &postgres::Row) -> Result<ConfigRecord, StoreError> {
    let json: String = r.try_get(3)?;
    Ok(ConfigRecord {
        project_id: r.try_get(0)?,
        config_name: r.try_get(1)?,
        config_desc: r.try_get(2)?,
        config: serde_json::from_str(&json)?,
        create_time: r.try_get(4)?,
        update_time: r.try_get(5)?,
    })
}

fn get(c: &mut impl GenericClient, project: &str, name: &str) -> Result<ConfigRecord, StoreError> {
    let row = c
        .query_opt(
            &format!(
                "SELECT {COLUMNS} FROM training_job_configs WHERE project_id = $1 AND config_name = $2"
            ),
            &[&project, &name],
        )?
        .ok_or(StoreError::NotFound)?;
    from_row(&row)
}

impl ConfigEngine for PgStore {
    fn get_config(&self, project: &str, name: &str) -> Result<ConfigRecord, StoreError> {
        get(&mut **self.conn()?, project, name)
    }

    fn list_configs(
        &self,
        project: &str,
        q: &ConfigListQuery,
    ) -> Result<(u64, Vec<ConfigRecord>), StoreError> {
        let mut c = self.conn()?;
        let folded = search_fold(&q.search_content);
        let filter = "FROM training_job_configs
             WHERE project_id = $1 AND ($2 = '' OR strpos(config_name_folded, $2) > 0)";
        let total: i64 = c
            .query_one(&format!("SELECT COUNT(*) {filter}"), &[&project, &folded])?
            .try_get(0)?;
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
        let limit = i64::from(q.per_page);
        let offset = i64::try_from(q.offset()).unwrap_or(i64::MAX);
        let rows = c
            .query(
                &format!("SELECT {COLUMNS} {filter} ORDER BY {order} LIMIT $3 OFFSET $4"),
                &[&project, &folded, &limit, &offset],
            )?
            .iter()
            .map(from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((total.max(0) as u64, rows))
    }

    fn create_config(
        &self,
        project: &str,
        name: &str,
        desc: &str,
        config: &Map<String, Value>,
        now_ms: i64,
    ) -> Result<ConfigRecord, StoreError> {
        let json = serde_json::to_string(config)?;
        self.write_plain(|tx| {
            let inserted = tx.execute(
                "INSERT INTO training_job_configs
                    (project_id, config_name, config_name_folded, config_desc, config, create_time, update_time)
                 VALUES ($1, $2, $3, $4, $5, $6, $6)",
                &[&project, &name, &search_fold(name), &desc, &json, &now_ms],
            );
            match inserted {
                Err(e) if is_unique_violation(&e) => {
                    return Err(StoreError::DuplicateName {
                        name: name.to_owned(),
                        line: None,
                    });
                }
                other => {
                    other?;
                }
            }
            get(tx, project, name)
        })
    }

    fn update_config(
        &self,
        project: &str,
        name: &str,
        desc: Option<&str>,
        config: Option<&Map<String, Value>>,
        now_ms: i64,
    ) -> Result<ConfigRecord, StoreError> {
        let json = config.map(serde_json::to_string).transpose()?;
        self.write_plain(|tx| {
            let n = tx.execute(
                "UPDATE training_job_configs
                    SET config_desc = COALESCE($3, config_desc),
                        config = COALESCE($4, config),
                        update_time = $5
                  WHERE project_id = $1 AND config_name = $2",
                &[&project, &name, &desc, &json, &now_ms],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            get(tx, project, name)
        })
    }

    fn delete_config(&self, project: &str, name: &str) -> Result<(), StoreError> {
        self.write_plain(|tx| {
            let n = tx.execute(
                "DELETE FROM training_job_configs WHERE project_id = $1 AND config_name = $2",
                &[&project, &name],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
    }
}
