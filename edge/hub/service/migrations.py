"""The hub's schema, as numbered migrations run at start (`Database.migrate`).  Never edit one that
has shipped: add the next.  Portable SQL only (SQLite and PostgreSQL); `{serial}` is an id column."""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: messages, incidents and their audit trail, nodes, officers, tasks, commands, users, events.
    """
    CREATE TABLE messages (
        id TEXT NOT NULL,
        stage TEXT NOT NULL,
        node TEXT NOT NULL,
        rule TEXT NOT NULL,
        kind TEXT NOT NULL,
        zone TEXT NOT NULL,
        ts TEXT NOT NULL,
        incident BIGINT NOT NULL,
        payload TEXT NOT NULL,
        received DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (id, stage)
    );
    CREATE INDEX messages_incident ON messages (incident);
    CREATE TABLE violations (
        id TEXT PRIMARY KEY,
        node TEXT NOT NULL,
        incident BIGINT NOT NULL
    );
    CREATE TABLE incidents (
        id {serial},
        node TEXT NOT NULL,
        rule TEXT NOT NULL,
        kind TEXT NOT NULL,
        zone TEXT NOT NULL,
        state TEXT NOT NULL,
        level TEXT NOT NULL,
        opened_at DOUBLE PRECISION NOT NULL,
        last_seen DOUBLE PRECISION NOT NULL,
        messages INTEGER NOT NULL,
        violations INTEGER NOT NULL,
        lat DOUBLE PRECISION,
        lon DOUBLE PRECISION,
        evidence TEXT,
        acknowledged_at DOUBLE PRECISION,
        dispatched_at DOUBLE PRECISION,
        on_scene_at DOUBLE PRECISION,
        resolved_at DOUBLE PRECISION,
        closed_at DOUBLE PRECISION,
        dismiss_reason TEXT,
        officer TEXT,
        updated DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX incidents_opened ON incidents (opened_at);
    CREATE INDEX incidents_group ON incidents (node, rule, zone, last_seen);
    CREATE INDEX incidents_state ON incidents (state, opened_at);
    CREATE TABLE audit (
        id {serial},
        incident BIGINT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        actor TEXT NOT NULL,
        from_state TEXT,
        to_state TEXT NOT NULL,
        comment TEXT NOT NULL
    );
    CREATE INDEX audit_incident ON audit (incident, id);
    CREATE TABLE nodes (
        node TEXT PRIMARY KEY,
        state TEXT,
        status TEXT,
        status_at DOUBLE PRECISION,
        stats TEXT,
        stats_at DOUBLE PRECISION,
        snapshot TEXT,
        snapshot_at DOUBLE PRECISION,
        zones TEXT,
        lat DOUBLE PRECISION,
        lon DOUBLE PRECISION
    );
    CREATE TABLE officers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        badge TEXT NOT NULL,
        device TEXT NOT NULL,
        lat DOUBLE PRECISION,
        lon DOUBLE PRECISION,
        position_at DOUBLE PRECISION,
        available INTEGER NOT NULL
    );
    CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        officer TEXT NOT NULL,
        incident BIGINT NOT NULL,
        state TEXT NOT NULL,
        issued_by TEXT NOT NULL,
        issued_at DOUBLE PRECISION NOT NULL,
        accepted_at DOUBLE PRECISION,
        on_scene_at DOUBLE PRECISION,
        done_at DOUBLE PRECISION,
        payload TEXT NOT NULL
    );
    CREATE INDEX tasks_officer ON tasks (officer, state);
    CREATE TABLE commands (
        id TEXT PRIMARY KEY,
        node TEXT NOT NULL,
        name TEXT NOT NULL,
        args TEXT NOT NULL,
        issued_by TEXT NOT NULL,
        issued_at DOUBLE PRECISION NOT NULL,
        incident BIGINT,
        state TEXT NOT NULL,
        ok INTEGER,
        error TEXT,
        data TEXT,
        result_at DOUBLE PRECISION
    );
    CREATE INDEX commands_node ON commands (node, issued_at);
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        csrf TEXT NOT NULL,
        expires DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE events (
        seq {serial},
        at DOUBLE PRECISION NOT NULL,
        kind TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE TABLE bundles (
        node TEXT NOT NULL,
        bundle TEXT NOT NULL,
        state TEXT NOT NULL,
        manifest_sha256 TEXT,
        reason TEXT,
        at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (node, bundle)
    )
    """,
    # 2: the grouping index without last_seen, which every ingest batch updates: an index on it made
    # each incident update write new entries in every index (no heap-only update on PostgreSQL).
    """
    DROP INDEX incidents_group;
    CREATE INDEX incidents_key ON incidents (node, rule, zone)
    """,
    # 3: login attempts, counted in the store so that every worker shares the rate limit (auth.RateLimit).
    """
    CREATE TABLE login_attempts (
        subject TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX login_attempts_subject ON login_attempts (subject, at);
    CREATE INDEX login_attempts_at ON login_attempts (at)
    """,
]
