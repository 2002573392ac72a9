//! Accounts in PostgreSQL: the rows behind [`crate::auth`].

use super::PgStore;
use crate::StoreError;
use crate::auth::{
    AccessKeyRecord, AuthEngine, Identity, KeyInsert, ProjectRecord, ProjectRef, SealedKey,
    TokenRow, UserRecord,
};
use postgres::GenericClient;

type R<T> = Result<T, StoreError>;

fn project_from_row(r: &postgres::Row) -> R<ProjectRecord> {
    Ok(ProjectRecord {
        project_id: r.try_get(0)?,
        name: r.try_get(1)?,
        created_at: r.try_get(2)?,
    })
}

fn user_projects(c: &mut impl GenericClient, user_id: i64) -> R<Vec<String>> {
    c.query(
        "SELECT project_id FROM user_projects WHERE user_id = $1 ORDER BY project_id COLLATE \"C\"",
        &[&user_id],
    )?
    .iter()
    .map(|r| Ok(r.try_get(0)?))
    .collect()
}

fn active_user(c: &mut impl GenericClient, name: &str, domain: &str) -> R<Option<(i64, String)>> {
    c.query_opt(
        "SELECT user_id, password_hash FROM users
         WHERE name = $1 AND domain = $2 AND removed_at IS NULL",
        &[&name, &domain],
    )?
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .transpose()
}

impl AuthEngine for PgStore {
    fn insert_project(&self, p: &ProjectRecord) -> R<bool> {
        let n = self.conn()?.execute(
            "INSERT INTO projects (project_id, name, created_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&p.project_id, &p.name, &p.created_at],
        )?;
        Ok(n == 1)
    }

    fn projects(&self) -> R<Vec<ProjectRecord>> {
        self.conn()?
            .query(
                "SELECT project_id, name, created_at FROM projects ORDER BY name",
                &[],
            )?
            .iter()
            .map(project_from_row)
            .collect()
    }

    fn project(&self, r: ProjectRef<'_>) -> R<Option<ProjectRecord>> {
        let (sql, key) = match r {
            ProjectRef::FirstOfUser => return Ok(None),
            ProjectRef::Id(id) => (
                "SELECT project_id, name, created_at FROM projects WHERE project_id = $1",
                id,
            ),
            ProjectRef::Name(n) => (
                "SELECT project_id, name, created_at FROM projects WHERE name = $1",
                n,
            ),
        };
        self.conn()?
            .query_opt(sql, &[&key])?
            .map(|r| project_from_row(&r))
            .transpose()
    }

    fn insert_user(
        &self,
        name: &str,
        domain: &str,
        password_hash: &str,
        project_ids: &[String],
        now_ms: i64,
    ) -> R<Option<i64>> {
        self.write_plain(|tx| {
            // the partial unique index users_name refuses a second active user
            let row = tx.query_opt(
                "INSERT INTO users (name, domain, password_hash, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING RETURNING user_id",
                &[&name, &domain, &password_hash, &now_ms],
            )?;
            let Some(row) = row else {
                return Ok(None);
            };
            let user_id: i64 = row.try_get(0)?;
            for id in project_ids {
                tx.execute(
                    "INSERT INTO user_projects (user_id, project_id) VALUES ($1, $2)",
                    &[&user_id, id],
                )?;
            }
            Ok(Some(user_id))
        })
    }

    fn projects_of_user(&self, user_id: i64) -> R<Vec<ProjectRecord>> {
        self.conn()?
            .query(
                "SELECT p.project_id, p.name, p.created_at
                 FROM user_projects up
                 JOIN projects p ON p.project_id = up.project_id
                 JOIN users u ON u.user_id = up.user_id
                 WHERE up.user_id = $1 AND u.removed_at IS NULL
                 ORDER BY p.project_id COLLATE \"C\"",
                &[&user_id],
            )?
            .iter()
            .map(project_from_row)
            .collect()
    }

    fn users(&self) -> R<Vec<UserRecord>> {
        let mut c = self.conn()?;
        let mut users = c
            .query(
                "SELECT user_id, name, domain, created_at FROM users WHERE removed_at IS NULL
                 ORDER BY domain, name",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(UserRecord {
                    user_id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    domain: r.try_get(2)?,
                    projects: Vec::new(),
                    created_at: r.try_get(3)?,
                })
            })
            .collect::<R<Vec<_>>>()?;
        for u in &mut users {
            u.projects = user_projects(&mut **c, u.user_id)?;
        }
        Ok(users)
    }

    fn active_user_count(&self) -> R<u64> {
        let n: i64 = self
            .conn()?
            .query_one("SELECT COUNT(*) FROM users WHERE removed_at IS NULL", &[])?
            .try_get(0)?;
        Ok(n.max(0) as u64)
    }

    fn active_user(&self, name: &str, domain: &str) -> R<Option<(i64, String, Vec<String>)>> {
        let mut c = self.conn()?;
        Ok(match active_user(&mut **c, name, domain)? {
            Some((id, hash)) => Some((id, hash, user_projects(&mut **c, id)?)),
            None => None,
        })
    }

    fn remove_user(&self, name: &str, domain: &str, now_ms: i64) -> R<bool> {
        self.write_plain(|tx| {
            let row = tx.query_opt(
                "UPDATE users SET removed_at = $3
                 WHERE name = $1 AND domain = $2 AND removed_at IS NULL RETURNING user_id",
                &[&name, &domain, &now_ms],
            )?;
            let Some(row) = row else {
                return Ok(false);
            };
            let user_id: i64 = row.try_get(0)?;
            tx.execute(
                "UPDATE access_keys SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
                &[&user_id, &now_ms],
            )?;
            tx.execute(
                "UPDATE tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
                &[&user_id, &now_ms],
            )?;
            Ok(true)
        })
    }

    fn insert_access_key(
        &self,
        access_key: &str,
        sealed: &[u8],
        user: &str,
        domain: &str,
        now_ms: i64,
    ) -> R<KeyInsert> {
        self.write_plain(|tx| {
            let Some((user_id, _)) = active_user(tx, user, domain)? else {
                return Ok(KeyInsert::NoUser);
            };
            let n = tx.execute(
                "INSERT INTO access_keys (access_key, secret_sealed, user_id, created_at)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&access_key, &sealed, &user_id, &now_ms],
            )?;
            Ok(if n == 1 {
                KeyInsert::Inserted
            } else {
                KeyInsert::Taken
            })
        })
    }

    fn access_keys(&self, user: Option<(&str, &str)>) -> R<Vec<AccessKeyRecord>> {
        let (n, d) = match user {
            Some((n, d)) => (Some(n), Some(d)),
            None => (None, None),
        };
        self.conn()?
            .query(
                "SELECT k.access_key, u.name, u.domain, k.created_at, k.revoked_at
                 FROM access_keys k JOIN users u ON u.user_id = k.user_id
                 WHERE ($1::TEXT IS NULL OR (u.name = $1 AND u.domain = $2 AND u.removed_at IS NULL))
                 ORDER BY k.created_at, k.access_key",
                &[&n, &d],
            )?
            .iter()
            .map(|r| {
                Ok(AccessKeyRecord {
                    access_key: r.try_get(0)?,
                    user: r.try_get(1)?,
                    domain: r.try_get(2)?,
                    created_at: r.try_get(3)?,
                    revoked_at: r.try_get(4)?,
                })
            })
            .collect()
    }

    fn revoke_access_key(&self, access_key: &str, now_ms: i64) -> R<bool> {
        let n = self.conn()?.execute(
            "UPDATE access_keys SET revoked_at = $2 WHERE access_key = $1 AND revoked_at IS NULL",
            &[&access_key, &now_ms],
        )?;
        Ok(n == 1)
    }

    fn sealed_key(&self, access_key: &str) -> R<Option<SealedKey>> {
        let mut c = self.conn()?;
        let row = c.query_opt(
            "SELECT k.secret_sealed, u.user_id, u.name, u.domain
             FROM access_keys k JOIN users u ON u.user_id = k.user_id
             WHERE k.access_key = $1 AND k.revoked_at IS NULL AND u.removed_at IS NULL",
            &[&access_key],
        )?;
        let Some(row) = row else {
            return Ok(None);
        };
        let user_id: i64 = row.try_get(1)?;
        let projects = user_projects(&mut **c, user_id)?;
        Ok(Some(SealedKey {
            sealed: row.try_get(0)?,
            identity: Identity {
                user_id,
                user: row.try_get(2)?,
                domain: row.try_get(3)?,
                projects,
            },
        }))
    }

    fn insert_token(
        &self,
        token_sha256: &str,
        user_id: i64,
        project_id: &str,
        issued_at: i64,
        expires_at: i64,
        purge_before: i64,
    ) -> R<()> {
        self.write_plain(|tx| {
            tx.execute("DELETE FROM tokens WHERE expires_at < $1", &[&purge_before])?;
            tx.execute(
                "INSERT INTO tokens (token_sha256, user_id, project_id, issued_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &token_sha256,
                    &user_id,
                    &project_id,
                    &issued_at,
                    &expires_at,
                ],
            )?;
            Ok(())
        })
    }

    fn token(&self, token_sha256: &str) -> R<Option<TokenRow>> {
        self.conn()?
            .query_opt(
                "SELECT u.user_id, u.name, u.domain, t.project_id, t.expires_at
                 FROM tokens t JOIN users u ON u.user_id = t.user_id
                 WHERE t.token_sha256 = $1 AND t.revoked_at IS NULL AND u.removed_at IS NULL",
                &[&token_sha256],
            )?
            .map(|r| {
                Ok(TokenRow {
                    identity: Identity {
                        user_id: r.try_get(0)?,
                        user: r.try_get(1)?,
                        domain: r.try_get(2)?,
                        projects: vec![r.try_get(3)?],
                    },
                    expires_at: r.try_get(4)?,
                })
            })
            .transpose()
    }

    fn revoke_token(&self, token_sha256: &str, now_ms: i64) -> R<bool> {
        let n = self.conn()?.execute(
            "UPDATE tokens SET revoked_at = $2 WHERE token_sha256 = $1 AND revoked_at IS NULL",
            &[&token_sha256, &now_ms],
        )?;
        Ok(n == 1)
    }

    fn key_check(&self) -> R<Option<Vec<u8>>> {
        self.conn()?
            .query_opt(
                "SELECT value FROM meta WHERE key = 'sealing_key_check'",
                &[],
            )?
            .map(|r| Ok(r.try_get(0)?))
            .transpose()
    }

    fn set_key_check(&self, value: &[u8]) -> R<Vec<u8>> {
        self.write_plain(|tx| {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('sealing_key_check', $1)
                 ON CONFLICT DO NOTHING",
                &[&value],
            )?;
            Ok(tx
                .query_one(
                    "SELECT value FROM meta WHERE key = 'sealing_key_check'",
                    &[],
                )?
                .try_get(0)?)
        })
    }
}
