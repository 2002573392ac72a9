//! The PostgreSQL schema and its migrations (table `schema_migrations` counts the ones applied;
//! they run at open, under an advisory lock, so replicas starting together apply each once).
//! Never edit a migration that has shipped: add one. Text that lists sort by is `COLLATE "C"`
//! (code point order, as `list.md` and SQLite's default).

/// Migrations in order; each runs once, inside a transaction.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: everything the SQLite schema has after its migration 6
    r#"
    CREATE TABLE id_counters (
        name TEXT PRIMARY KEY,
        next BIGINT NOT NULL                                  -- the next id to hand out
    );
    INSERT INTO id_counters (name, next) VALUES ('jobs', 1), ('versions', 1);

    CREATE TABLE jobs (
        job_id            BIGINT PRIMARY KEY,                 -- from id_counters: never reused
        project_id        TEXT   NOT NULL,
        workspace_id      TEXT   NOT NULL,
        job_name          TEXT   COLLATE "C" NOT NULL,
        job_name_folded   TEXT   COLLATE "C" NOT NULL,
        job_desc          TEXT   COLLATE "C" NOT NULL DEFAULT '',
        version_count     BIGINT NOT NULL,
        latest_version_id BIGINT NOT NULL,
        next_version_no   BIGINT NOT NULL,
        created_at        BIGINT NOT NULL
    );
    CREATE UNIQUE INDEX jobs_name ON jobs(project_id, workspace_id, job_name);

    CREATE TABLE versions (
        version_id        BIGINT PRIMARY KEY,
        job_id            BIGINT NOT NULL,
        version_no        BIGINT NOT NULL,
        pre_version_id    BIGINT,
        version_desc      TEXT   NOT NULL DEFAULT '',
        status            BIGINT NOT NULL,
        create_time       BIGINT NOT NULL,
        start_time        BIGINT,
        end_time          BIGINT,
        duration          BIGINT NOT NULL DEFAULT 0,
        exit_code         BIGINT,
        status_reason     TEXT   NOT NULL DEFAULT '',
        engine_id         BIGINT,
        engine_type       BIGINT NOT NULL DEFAULT 0,
        engine_name       TEXT   NOT NULL DEFAULT '',
        engine_version    TEXT   NOT NULL DEFAULT '',
        spec_id           BIGINT NOT NULL DEFAULT 0,
        spec_code         TEXT   NOT NULL DEFAULT '',
        core              TEXT   NOT NULL DEFAULT '',
        cpu               TEXT   NOT NULL DEFAULT '',
        gpu_num           BIGINT NOT NULL DEFAULT 0,
        gpu_type          TEXT   NOT NULL DEFAULT '',
        worker_server_num BIGINT NOT NULL DEFAULT 1,
        config            TEXT   NOT NULL DEFAULT '{}',
        run_handle        TEXT,
        imported          BOOLEAN NOT NULL DEFAULT FALSE
    );
    CREATE INDEX versions_job ON versions(job_id, version_id);
    CREATE INDEX versions_active ON versions(status) WHERE status IN (1, 2, 4, 7, 8, 9);

    CREATE TABLE project_job_counts (
        project_id TEXT PRIMARY KEY,
        jobs       BIGINT NOT NULL
    );

    CREATE TABLE projects (
        project_id TEXT PRIMARY KEY,
        name       TEXT COLLATE "C" NOT NULL UNIQUE,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE users (
        user_id       BIGSERIAL PRIMARY KEY,
        name          TEXT COLLATE "C" NOT NULL,
        domain        TEXT COLLATE "C" NOT NULL,
        password_hash TEXT NOT NULL,
        created_at    BIGINT NOT NULL,
        removed_at    BIGINT
    );
    CREATE UNIQUE INDEX users_name ON users(domain, name) WHERE removed_at IS NULL;
    CREATE TABLE user_projects (
        user_id    BIGINT NOT NULL REFERENCES users(user_id),
        project_id TEXT   NOT NULL REFERENCES projects(project_id),
        PRIMARY KEY (user_id, project_id)
    );
    CREATE TABLE access_keys (
        access_key    TEXT COLLATE "C" PRIMARY KEY,
        secret_sealed BYTEA  NOT NULL,
        user_id       BIGINT NOT NULL REFERENCES users(user_id),
        created_at    BIGINT NOT NULL,
        revoked_at    BIGINT
    );
    CREATE INDEX access_keys_user ON access_keys(user_id);
    CREATE TABLE tokens (
        token_sha256 TEXT PRIMARY KEY,
        user_id      BIGINT NOT NULL REFERENCES users(user_id),
        project_id   TEXT   NOT NULL REFERENCES projects(project_id),
        issued_at    BIGINT NOT NULL,
        expires_at   BIGINT NOT NULL,
        revoked_at   BIGINT
    );
    CREATE INDEX tokens_user ON tokens(user_id);

    CREATE TABLE training_job_configs (
        config_id          BIGSERIAL PRIMARY KEY,
        project_id         TEXT COLLATE "C" NOT NULL,
        config_name        TEXT COLLATE "C" NOT NULL,
        config_name_folded TEXT COLLATE "C" NOT NULL,
        config_desc        TEXT COLLATE "C" NOT NULL DEFAULT '',
        config             TEXT NOT NULL DEFAULT '{}',
        create_time        BIGINT NOT NULL,
        update_time        BIGINT NOT NULL,
        UNIQUE (project_id, config_name)
    );

    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value BYTEA NOT NULL
    );
    "#,
    // 2: the change log every replica tails (issue 12 §3), and the scheduler lease (§4)
    r#"
    CREATE TABLE change_log (
        seq          BIGINT PRIMARY KEY,     -- MAX(seq) + 1 under the commit-order lock: dense, visible in order
        tag          BIGINT NOT NULL,        -- the writing store's origin (high 32 bits) and write number
        kind         SMALLINT NOT NULL,      -- 0 no list change, 1 a job's row, 2 a job deleted, 3 an import
        project_id   TEXT NOT NULL DEFAULT '',
        workspace_id TEXT NOT NULL DEFAULT '',
        job_id       BIGINT NOT NULL DEFAULT 0,
        last_job_id  BIGINT NOT NULL DEFAULT 0, -- imports: jobs job_id..=last_job_id
        committed_at BIGINT NOT NULL          -- epoch ms, database clock (pruning)
    );

    CREATE TABLE scheduler_lease (
        id         INT PRIMARY KEY CHECK (id = 1),
        epoch      BIGINT NOT NULL,          -- fencing value: +1 at every change of leader
        holder     TEXT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
    );
    INSERT INTO scheduler_lease (id, epoch, holder, expires_at) VALUES (1, 0, '', '-infinity');
    "#,
];
