//! Copying into PostgreSQL (`trainyard migrate`): rows with their ids, jobs and versions with
//! binary `COPY`.

use super::PgStore;
use crate::copy::{AccountsDump, CopyEngine, JobDump};
use crate::{Result, StoreError};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;
use trainyard_api::text::search_fold;

impl CopyEngine for PgStore {
    fn dump_accounts(&self) -> Result<AccountsDump> {
        Err(StoreError::Backend(
            "copying out of PostgreSQL is not supported (use pg_dump)".into(),
        ))
    }

    fn dump_jobs(&self, _: i64, _: usize) -> Result<Vec<JobDump>> {
        Err(StoreError::Backend(
            "copying out of PostgreSQL is not supported (use pg_dump)".into(),
        ))
    }

    fn is_empty(&self) -> Result<bool> {
        Ok(self
            .conn()?
            .query_one(
                "SELECT NOT EXISTS(SELECT 1 FROM jobs) AND NOT EXISTS(SELECT 1 FROM users)
                    AND NOT EXISTS(SELECT 1 FROM projects)
                    AND NOT EXISTS(SELECT 1 FROM training_job_configs)",
                &[],
            )?
            .try_get(0)?)
    }

    fn restore_accounts(&self, d: &AccountsDump) -> Result<()> {
        self.write_plain(|tx| {
            for p in &d.projects {
                tx.execute(
                    "INSERT INTO projects (project_id, name, created_at) VALUES ($1, $2, $3)",
                    &[&p.project_id, &p.name, &p.created_at],
                )?;
            }
            for u in &d.users {
                tx.execute(
                    "INSERT INTO users (user_id, name, domain, password_hash, created_at, removed_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[&u.user_id, &u.name, &u.domain, &u.password_hash, &u.created_at, &u.removed_at],
                )?;
            }
            tx.execute(
                "SELECT setval(pg_get_serial_sequence('users', 'user_id'),
                    GREATEST((SELECT COALESCE(MAX(user_id), 0) FROM users), 1))",
                &[],
            )?;
            for (user_id, project_id) in &d.user_projects {
                tx.execute(
                    "INSERT INTO user_projects (user_id, project_id) VALUES ($1, $2)",
                    &[user_id, project_id],
                )?;
            }
            for k in &d.access_keys {
                tx.execute(
                    "INSERT INTO access_keys (access_key, secret_sealed, user_id, created_at, revoked_at)
                     VALUES ($1, $2, $3, $4, $5)",
                    &[&k.access_key, &k.secret_sealed, &k.user_id, &k.created_at, &k.revoked_at],
                )?;
            }
            for t in &d.tokens {
                tx.execute(
                    "INSERT INTO tokens (token_sha256, user_id, project_id, issued_at, expires_at, revoked_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[&t.token_sha256, &t.user_id, &t.project_id, &t.issued_at, &t.expires_at, &t.revoked_at],
                )?;
            }
            for c in &d.configs {
                let json = serde_json::to_string(&c.config)?;
                tx.execute(
                    "INSERT INTO training_job_configs
                        (project_id, config_name, config_name_folded, config_desc, config, create_time, update_time)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    &[&c.project_id, &c.config_name, &search_fold(&c.config_name), &c.config_desc, &json, &c.create_time, &c.update_time],
                )?;
            }
            if let Some(check) = &d.key_check {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('sealing_key_check', $1)
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    &[check],
                )?;
            }
            tx.execute(
                "UPDATE id_counters SET next = GREATEST(next, $1) WHERE name = 'jobs'",
                &[&d.next_ids.0],
            )?;
            tx.execute(
                "UPDATE id_counters SET next = GREATEST(next, $1) WHERE name = 'versions'",
                &[&d.next_ids.1],
            )?;
            Ok(())
        })
    }

    fn restore_jobs(&self, jobs: &[JobDump]) -> Result<()> {
        self.write_plain(|tx| {
            {
                let sink = tx.copy_in(
                    "COPY jobs (job_id, project_id, workspace_id, job_name, job_name_folded, job_desc, version_count, latest_version_id, next_version_no, created_at) FROM STDIN (FORMAT binary)",
                )?;
                let types = [
                    Type::INT8,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::INT8,
                    Type::INT8,
                    Type::INT8,
                    Type::INT8,
                ];
                let mut w = BinaryCopyInWriter::new(sink, &types);
                for JobDump { job: j, .. } in jobs {
                    w.write(&[
                        &j.job_id,
                        &j.project_id,
                        &j.workspace_id,
                        &j.job_name,
                        &search_fold(&j.job_name),
                        &j.job_desc,
                        &j.version_count,
                        &j.latest_version_id,
                        &j.next_version_no,
                        &j.created_at,
                    ])?;
                }
                w.finish()?;
            }
            let sink = tx.copy_in(
                "COPY versions (version_id, job_id, version_no, pre_version_id, version_desc, status, create_time, start_time, end_time, duration, exit_code, status_reason, engine_id, engine_type, engine_name, engine_version, spec_id, spec_code, core, cpu, gpu_num, gpu_type, worker_server_num, config, run_handle, imported) FROM STDIN (FORMAT binary)",
            )?;
            let (i, t, b) = (Type::INT8, Type::TEXT, Type::BOOL);
            // in the column order of the COPY above
            let types = [
                i.clone(), i.clone(), i.clone(), i.clone(), t.clone(), i.clone(), i.clone(),
                i.clone(), i.clone(), i.clone(), i.clone(), t.clone(), i.clone(), i.clone(),
                t.clone(), t.clone(), i.clone(), t.clone(), t.clone(), t.clone(), i.clone(),
                t.clone(), i, t.clone(), t, b,
            ];
            let mut w = BinaryCopyInWriter::new(sink, &types);
            for JobDump {
                versions,
                engine_types,
                ..
            } in jobs
            {
                for (v, engine_type) in versions.iter().zip(engine_types) {
                    let status = i64::from(v.status.code());
                    let config = serde_json::to_string(&v.config)?;
                    let engine_id = v.engine.as_ref().map(|e| e.engine_id);
                    let engine_name = v.engine.as_ref().map_or("", |e| e.engine_name.as_str());
                    let engine_version =
                        v.engine.as_ref().map_or("", |e| e.engine_version.as_str());
                    w.write(&[
                        &v.version_id,
                        &v.job_id,
                        &v.version_no,
                        &v.pre_version_id,
                        &v.version_desc,
                        &status,
                        &v.create_time,
                        &v.start_time,
                        &v.end_time,
                        &v.duration,
                        &v.exit_code,
                        &v.status_reason,
                        &engine_id,
                        engine_type,
                        &engine_name,
                        &engine_version,
                        &v.spec.spec_id,
                        &v.spec.spec_code,
                        &v.spec.core,
                        &v.spec.cpu,
                        &v.spec.gpu_num,
                        &v.spec.gpu_type,
                        &v.worker_server_num,
                        &config,
                        &v.run_handle,
                        &v.imported,
                    ])?;
                }
            }
            w.finish()?;
            Ok(())
        })
    }

    fn finish_restore(&self) -> Result<()> {
        self.write_plain(|tx| {
            tx.batch_execute(
                "DELETE FROM project_job_counts;
                 INSERT INTO project_job_counts (project_id, jobs)
                     SELECT project_id, COUNT(*) FROM jobs GROUP BY project_id;
                 UPDATE id_counters SET next = GREATEST(next, (SELECT COALESCE(MAX(job_id), 0) + 1 FROM jobs))
                     WHERE name = 'jobs';
                 UPDATE id_counters SET next = GREATEST(next, (SELECT COALESCE(MAX(version_id), 0) + 1 FROM versions))
                     WHERE name = 'versions';",
            )?;
            Ok(())
        })
    }
}
