//! The SQLite schema and its migrations (`PRAGMA user_version` counts the ones applied).
//! Never edit a migration that has shipped: add one.

/// Migrations in order; each runs once, inside a transaction.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: jobs and versions
    r#"
    CREATE TABLE jobs (
        job_id            INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, even after deletion
        project_id        TEXT    NOT NULL,
        workspace_id      TEXT    NOT NULL,
        job_name          TEXT    NOT NULL,                  -- NFC
        job_name_folded   TEXT    NOT NULL,                  -- NFC + simple case folding, for search
        job_desc          TEXT    NOT NULL DEFAULT '',
        version_count     INTEGER NOT NULL,
        latest_version_id INTEGER NOT NULL,                  -- highest existing version_id
        next_version_no   INTEGER NOT NULL,                  -- V0001, V0002, ... never reused
        created_at        INTEGER NOT NULL                   -- epoch ms
    );
    CREATE UNIQUE INDEX jobs_name ON jobs(project_id, workspace_id, job_name);
    CREATE INDEX jobs_project ON jobs(project_id);

    CREATE TABLE versions (
        version_id        INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id            INTEGER NOT NULL,
        version_no        INTEGER NOT NULL,
        pre_version_id    INTEGER,
        version_desc      TEXT    NOT NULL DEFAULT '',
        status            INTEGER NOT NULL,
        create_time       INTEGER NOT NULL,                  -- epoch ms
        start_time        INTEGER,
        end_time          INTEGER,
        duration          INTEGER NOT NULL DEFAULT 0,        -- ms, frozen at the end
        exit_code         INTEGER,
        status_reason     TEXT    NOT NULL DEFAULT '',
        engine_id         INTEGER,
        engine_type       INTEGER NOT NULL DEFAULT 0,
        engine_name       TEXT    NOT NULL DEFAULT '',
        engine_version    TEXT    NOT NULL DEFAULT '',
        spec_id           INTEGER NOT NULL DEFAULT 0,
        spec_code         TEXT    NOT NULL DEFAULT '',
        core              TEXT    NOT NULL DEFAULT '',
        cpu               TEXT    NOT NULL DEFAULT '',
        gpu_num           INTEGER NOT NULL DEFAULT 0,
        gpu_type          TEXT    NOT NULL DEFAULT '',
        worker_server_num INTEGER NOT NULL DEFAULT 1,
        config            TEXT    NOT NULL DEFAULT '{}',     -- JobConfig as JSON
        run_handle        TEXT,                              -- executor handle as JSON, while it runs
        imported          INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX versions_job ON versions(job_id, version_id);
    CREATE INDEX versions_active ON versions(status) WHERE status IN (1, 2, 4, 7, 8, 9);
    "#,
    // 2: users, projects, access keys and tokens (see `auth.rs` and docs/auth.md)
    r#"
    CREATE TABLE projects (
        project_id        TEXT    PRIMARY KEY,               -- 32 hex chars when generated
        name              TEXT    NOT NULL UNIQUE,
        created_at        INTEGER NOT NULL
    );
    CREATE TABLE users (
        user_id           INTEGER PRIMARY KEY AUTOINCREMENT,
        name              TEXT    NOT NULL,
        domain            TEXT    NOT NULL,
        password_hash     TEXT    NOT NULL,                  -- argon2id PHC string
        created_at        INTEGER NOT NULL,
        removed_at        INTEGER                            -- kept (revoked) for the audit trail
    );
    CREATE UNIQUE INDEX users_name ON users(domain, name) WHERE removed_at IS NULL;
    CREATE TABLE user_projects (
        user_id           INTEGER NOT NULL REFERENCES users(user_id),
        project_id        TEXT    NOT NULL REFERENCES projects(project_id),
        PRIMARY KEY (user_id, project_id)
    );
    CREATE TABLE access_keys (
        access_key        TEXT    PRIMARY KEY,
        secret_sealed     BLOB    NOT NULL,                  -- nonce || ChaCha20-Poly1305(secret), AAD = access_key
        user_id           INTEGER NOT NULL REFERENCES users(user_id),
        created_at        INTEGER NOT NULL,
        revoked_at        INTEGER
    );
    CREATE INDEX access_keys_user ON access_keys(user_id);
    CREATE TABLE tokens (
        token_sha256      TEXT    PRIMARY KEY,               -- hex SHA-256 of the token; the token itself is never stored
        user_id           INTEGER NOT NULL REFERENCES users(user_id),
        project_id        TEXT    NOT NULL REFERENCES projects(project_id),
        issued_at         INTEGER NOT NULL,
        expires_at        INTEGER NOT NULL,
        revoked_at        INTEGER
    );
    CREATE INDEX tokens_user ON tokens(user_id);
    "#,
    // 3: jobs(project_id) duplicated the prefix of the unique jobs_name index, and cost one
    // more B-tree insert per job (history import speed)
    r#"
    DROP INDEX IF EXISTS jobs_project;
    "#,
    // 4: named training-job configs (`training-jobs.md` §14, `configs.rs`)
    r#"
    CREATE TABLE training_job_configs (
        config_id          INTEGER PRIMARY KEY AUTOINCREMENT,
        project_id         TEXT    NOT NULL,
        config_name        TEXT    NOT NULL,                -- A-Z a-z 0-9 _ -, case-sensitive
        config_name_folded TEXT    NOT NULL,                -- search_fold(config_name), for search_content
        config_desc        TEXT    NOT NULL DEFAULT '',
        config             TEXT    NOT NULL DEFAULT '{}',   -- the flat config fields as JSON
        create_time        INTEGER NOT NULL,
        update_time        INTEGER NOT NULL,
        UNIQUE (project_id, config_name)
    );
    "#,
    // 5: the number of jobs of each project, kept by every job insert and delete, so the
    // `max_jobs` check of a create is O(1) instead of a COUNT(*) over the project's jobs
    r#"
    CREATE TABLE project_job_counts (
        project_id TEXT    PRIMARY KEY,
        jobs       INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO project_job_counts (project_id, jobs)
        SELECT project_id, COUNT(*) FROM jobs GROUP BY project_id;
    "#,
    // 6: store-wide settings: the check value of the sealing key (`Store::check_sealer`)
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value BLOB NOT NULL
    ) WITHOUT ROWID;
    "#,
];
