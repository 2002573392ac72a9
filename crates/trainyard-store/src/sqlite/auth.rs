//! Accounts in SQLite (migration 2 of `schema.rs`): the rows behind [`crate::auth`].

use super::SqliteStore;
use crate::StoreError;
use crate::auth::{
    AccessKeyRecord, AuthEngine, Identity, KeyInsert, ProjectRecord, ProjectRef, SealedKey,
    TokenRow, UserRecord,
};
use rusqlite::{Connection, OptionalExtension, params};

type R<T> = Result<T, StoreError>;

fn project_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ProjectRecord> {
    Ok(ProjectRecord {
        project_id: r.get(0)?,
        name: r.get(1)?,
        created_at: r.get(2)?,
    })
}

fn user_projects(conn: &Connection, user_id: i64) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT project_id FROM user_projects WHERE user_id = ?1 ORDER BY project_id",
    )?;
    stmt.query_map([user_id], |r| r.get(0))?.collect()
}

fn active_user(
    conn: &Connection,
    name: &str,
    domain: &str,
) -> rusqlite::Result<Option<(i64, String)>> {
    conn.query_row(
        "SELECT user_id, password_hash FROM users
         WHERE name = ?1 AND domain = ?2 AND removed_at IS NULL",
        [name, domain],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

impl AuthEngine for SqliteStore {
    fn insert_project(&self, p: &ProjectRecord) -> R<bool> {
        self.write_plain(|tx| {
            let taken: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM projects WHERE project_id = ?1 OR name = ?2)",
                [&p.project_id, &p.name],
                |r| r.get(0),
            )?;
            if taken {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO projects (project_id, name, created_at) VALUES (?1, ?2, ?3)",
                params![p.project_id, p.name, p.created_at],
            )?;
            Ok(true)
        })
    }

    fn projects(&self) -> R<Vec<ProjectRecord>> {
        let conn = self.read();
        let mut stmt =
            conn.prepare_cached("SELECT project_id, name, created_at FROM projects ORDER BY name")?;
        let rows = stmt
            .query_map([], project_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn project(&self, r: ProjectRef<'_>) -> R<Option<ProjectRecord>> {
        let (sql, key) = match r {
            ProjectRef::FirstOfUser => return Ok(None),
            ProjectRef::Id(id) => (
                "SELECT project_id, name, created_at FROM projects WHERE project_id = ?1",
                id,
            ),
            ProjectRef::Name(n) => (
                "SELECT project_id, name, created_at FROM projects WHERE name = ?1",
                n,
            ),
        };
        Ok(self
            .read()
            .query_row(sql, [key], project_from_row)
            .optional()?)
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
            if active_user(tx, name, domain)?.is_some() {
                return Ok(None);
            }
            tx.execute(
                "INSERT INTO users (name, domain, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![name, domain, password_hash, now_ms],
            )?;
            let user_id = tx.last_insert_rowid();
            for id in project_ids {
                tx.execute(
                    "INSERT INTO user_projects (user_id, project_id) VALUES (?1, ?2)",
                    params![user_id, id],
                )?;
            }
            Ok(Some(user_id))
        })
    }

    fn projects_of_user(&self, user_id: i64) -> R<Vec<ProjectRecord>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT p.project_id, p.name, p.created_at
             FROM user_projects up
             JOIN projects p ON p.project_id = up.project_id
             JOIN users u ON u.user_id = up.user_id
             WHERE up.user_id = ?1 AND u.removed_at IS NULL
             ORDER BY p.project_id",
        )?;
        let rows = stmt
            .query_map([user_id], project_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn users(&self) -> R<Vec<UserRecord>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT user_id, name, domain, created_at FROM users WHERE removed_at IS NULL
             ORDER BY domain, name",
        )?;
        let mut users = stmt
            .query_map([], |r| {
                Ok(UserRecord {
                    user_id: r.get(0)?,
                    name: r.get(1)?,
                    domain: r.get(2)?,
                    projects: Vec::new(),
                    created_at: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        drop(stmt);
        for u in &mut users {
            u.projects = user_projects(&conn, u.user_id)?;
        }
        Ok(users)
    }

    fn active_user_count(&self) -> R<u64> {
        let n: i64 = self.read().query_row(
            "SELECT COUNT(*) FROM users WHERE removed_at IS NULL",
            [],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    fn active_user(&self, name: &str, domain: &str) -> R<Option<(i64, String, Vec<String>)>> {
        let conn = self.read();
        Ok(match active_user(&conn, name, domain)? {
            Some((id, hash)) => Some((id, hash, user_projects(&conn, id)?)),
            None => None,
        })
    }

    fn remove_user(&self, name: &str, domain: &str, now_ms: i64) -> R<bool> {
        self.write_plain(|tx| {
            let Some((user_id, _)) = active_user(tx, name, domain)? else {
                return Ok(false);
            };
            tx.execute(
                "UPDATE users SET removed_at = ?2 WHERE user_id = ?1",
                params![user_id, now_ms],
            )?;
            tx.execute(
                "UPDATE access_keys SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
                params![user_id, now_ms],
            )?;
            tx.execute(
                "UPDATE tokens SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
                params![user_id, now_ms],
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
                "INSERT OR IGNORE INTO access_keys (access_key, secret_sealed, user_id, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![access_key, sealed, user_id, now_ms],
            )?;
            Ok(if n == 1 {
                KeyInsert::Inserted
            } else {
                KeyInsert::Taken
            })
        })
    }

    fn access_keys(&self, user: Option<(&str, &str)>) -> R<Vec<AccessKeyRecord>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT k.access_key, u.name, u.domain, k.created_at, k.revoked_at
             FROM access_keys k JOIN users u ON u.user_id = k.user_id
             WHERE (?1 IS NULL OR (u.name = ?1 AND u.domain = ?2 AND u.removed_at IS NULL))
             ORDER BY k.created_at, k.access_key",
        )?;
        let (n, d) = match user {
            Some((n, d)) => (Some(n), Some(d)),
            None => (None, None),
        };
        let rows = stmt
            .query_map(params![n, d], |r| {
                Ok(AccessKeyRecord {
                    access_key: r.get(0)?,
                    user: r.get(1)?,
                    domain: r.get(2)?,
                    created_at: r.get(3)?,
                    revoked_at: r.get(4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn revoke_access_key(&self, access_key: &str, now_ms: i64) -> R<bool> {
        let n = self.writer.lock().execute(
            "UPDATE access_keys SET revoked_at = ?2 WHERE access_key = ?1 AND revoked_at IS NULL",
            params![access_key, now_ms],
        )?;
        Ok(n == 1)
    }

    fn sealed_key(&self, access_key: &str) -> R<Option<SealedKey>> {
        let conn = self.read();
        let row: Option<(Vec<u8>, i64, String, String)> = conn
            .prepare_cached(
                "SELECT k.secret_sealed, u.user_id, u.name, u.domain
                 FROM access_keys k JOIN users u ON u.user_id = k.user_id
                 WHERE k.access_key = ?1 AND k.revoked_at IS NULL AND u.removed_at IS NULL",
            )?
            .query_row([access_key], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        let Some((sealed, user_id, user, domain)) = row else {
            return Ok(None);
        };
        let projects = user_projects(&conn, user_id)?;
        Ok(Some(SealedKey {
            sealed,
            identity: Identity {
                user_id,
                user,
                domain,
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
            tx.execute("DELETE FROM tokens WHERE expires_at < ?1", [purge_before])?;
            tx.execute(
                "INSERT INTO tokens (token_sha256, user_id, project_id, issued_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![token_sha256, user_id, project_id, issued_at, expires_at],
            )?;
            Ok(())
        })
    }

    fn token(&self, token_sha256: &str) -> R<Option<TokenRow>> {
        let conn = self.read();
        let row = conn
            .prepare_cached(
                "SELECT u.user_id, u.name, u.domain, t.project_id, t.expires_at
                 FROM tokens t JOIN users u ON u.user_id = t.user_id
                 WHERE t.token_sha256 = ?1 AND t.revoked_at IS NULL AND u.removed_at IS NULL",
            )?
            .query_row([token_sha256], |r| {
                Ok(TokenRow {
                    identity: Identity {
                        user_id: r.get(0)?,
                        user: r.get(1)?,
                        domain: r.get(2)?,
                        projects: vec![r.get(3)?],
                    },
                    expires_at: r.get(4)?,
                })
            })
            .optional()?;
        Ok(row)
    }

    fn revoke_token(&self, token_sha256: &str, now_ms: i64) -> R<bool> {
        let n = self.writer.lock().execute(
            "UPDATE tokens SET revoked_at = ?2 WHERE token_sha256 = ?1 AND revoked_at IS NULL",
            params![token_sha256, now_ms],
        )?;
        Ok(n == 1)
    }

    fn key_check(&self) -> R<Option<Vec<u8>>> {
        Ok(self
            .read()
            .query_row(
                "SELECT value FROM meta WHERE key = 'sealing_key_check'",
                [],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn set_key_check(&self, value: &[u8]) -> R<Vec<u8>> {
        self.write_plain(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('sealing_key_check', ?1)",
                [value],
            )?;
            Ok(tx.query_row(
                "SELECT value FROM meta WHERE key = 'sealing_key_check'",
                [],
                |r| r.get(0),
            )?)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::auth::{SECRET_KEY_LEN, Sealer};
    use crate::{Location, Store};

    /// The secret is stored sealed and the token only as its SHA-256 (read from the raw tables).
    #[test]
    fn secrets_are_not_stored_in_clear() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let s = Store::open(&Location::Sqlite(path.clone())).unwrap();
        let sealer = Sealer::from_key([3; 32]);
        s.add_project(Some("p1"), "default", 1).unwrap();
        s.add_user("alice", "alice", "correct horse", &["p1".into()], 2)
            .unwrap();
        let k = s.create_access_key(&sealer, "alice", "alice", 3).unwrap();
        let t = s
            .login(
                "alice",
                "alice",
                "correct horse",
                crate::auth::ProjectRef::Id("p1"),
                10,
                1000,
            )
            .unwrap()
            .unwrap();
        let raw = rusqlite::Connection::open(&path).unwrap();
        let sealed: Vec<u8> = raw
            .query_row("SELECT secret_sealed FROM access_keys", [], |r| r.get(0))
            .unwrap();
        assert!(
            !sealed
                .windows(SECRET_KEY_LEN)
                .any(|w| w == k.secret_key.as_bytes())
        );
        let stored: String = raw
            .query_row("SELECT token_sha256 FROM tokens", [], |r| r.get(0))
            .unwrap();
        assert_ne!(stored, t.token);
        assert_eq!(stored.len(), 64);
    }
}
