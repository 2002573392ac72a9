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
    // 3: a create in one round trip (`CALL`, see `PgStore::create_job`): the same statements as
    // a create in `PgStore::write`, in the same order (the ids with the committed count, the
    // rows, the project's count row locked; then the commit-order lock, the change-log entry
    // numbered under it and its notification), and the commit inside the procedure, so the answer to
    // the `CALL` comes after the commit is durable. Errors: SQLSTATE TY001 when the project
    // already holds `p_max_jobs` jobs; 23505 (`jobs_name`) for a taken name. Nothing is
    // committed on an error. `p_delay_ms`: the test hook's pause between numbering and commit.
    r#"
    CREATE PROCEDURE trainyard_create_job(
        p_project TEXT, p_workspace TEXT, p_name TEXT, p_name_folded TEXT, p_desc TEXT,
        p_max_jobs BIGINT, p_status BIGINT, p_create_time BIGINT, p_version_desc TEXT,
        p_engine_id BIGINT, p_engine_type BIGINT, p_engine_name TEXT, p_engine_version TEXT,
        p_spec_id BIGINT, p_spec_code TEXT, p_core TEXT, p_cpu TEXT, p_gpu_num BIGINT,
        p_gpu_type TEXT, p_workers BIGINT, p_config TEXT,
        p_lock_space INT, p_lock_key INT, p_tag BIGINT, p_kind SMALLINT, p_channel TEXT,
        p_payload TEXT, p_delay_ms BIGINT,
        INOUT o_job_id BIGINT, INOUT o_version_id BIGINT, INOUT o_seq BIGINT)
    LANGUAGE plpgsql AS $proc$
    DECLARE
        n BIGINT;
    BEGIN
        UPDATE id_counters SET next = next + 1 WHERE name = 'jobs' RETURNING next - 1 INTO o_job_id;
        UPDATE id_counters SET next = next + 1 WHERE name = 'versions' RETURNING next - 1 INTO o_version_id;
        -- the count as committed (no lock): a full project is reported before a taken name
        SELECT COALESCE((SELECT jobs FROM project_job_counts WHERE project_id = p_project), 0) INTO n;
        IF n + 1 > p_max_jobs THEN
            RAISE EXCEPTION 'the project holds % jobs, its limit', p_max_jobs
                USING ERRCODE = 'TY001';
        END IF;
        INSERT INTO jobs (job_id, project_id, workspace_id, job_name, job_name_folded, job_desc,
                          version_count, latest_version_id, next_version_no, created_at)
            VALUES (o_job_id, p_project, p_workspace, p_name, p_name_folded, p_desc,
                    1, o_version_id, 2, p_create_time);
        INSERT INTO versions (version_id, job_id, version_no, pre_version_id, version_desc, status,
                              create_time, engine_id, engine_type, engine_name, engine_version,
                              spec_id, spec_code, core, cpu, gpu_num, gpu_type, worker_server_num, config)
            VALUES (o_version_id, o_job_id, 1, NULL, p_version_desc, p_status,
                    p_create_time, p_engine_id, p_engine_type, p_engine_name, p_engine_version,
                    p_spec_id, p_spec_code, p_core, p_cpu, p_gpu_num, p_gpu_type, p_workers, p_config);
        -- the project's count row is locked from here to the commit only, after the insert: an
        -- insert that waits for another transaction's uncommitted name then never holds the
        -- row that transaction needs to commit
        INSERT INTO project_job_counts AS c (project_id, jobs) VALUES (p_project, 1)
            ON CONFLICT (project_id) DO UPDATE SET jobs = c.jobs + 1
            RETURNING c.jobs INTO n;
        IF n > p_max_jobs THEN
            RAISE EXCEPTION 'the project holds % jobs, its limit', p_max_jobs
                USING ERRCODE = 'TY001';
        END IF;
        -- the commit-order lock, last: every row lock above is taken before it
        PERFORM pg_advisory_xact_lock(p_lock_space, p_lock_key);
        -- a statement after the lock: its snapshot sees every entry committed before it
        INSERT INTO change_log (seq, tag, kind, project_id, workspace_id, job_id, last_job_id, committed_at)
            SELECT COALESCE(MAX(seq), 0) + 1, p_tag, p_kind, p_project, p_workspace, o_job_id, 0,
                   (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT
            FROM change_log
            RETURNING seq INTO o_seq;
        PERFORM pg_notify(p_channel, p_payload);
        IF p_delay_ms > 0 THEN
            PERFORM pg_sleep(p_delay_ms / 1000.0);
        END IF;
        COMMIT;
    END
    $proc$;
    "#,
];
