"""One database interface over SQLite (apsw, the embedded default) and PostgreSQL (psycopg 3).

SQL is written once with `?` placeholders and a few portable types; `{serial}` in a migration is the
one dialect difference.  Each thread borrows a connection from a small pool; `tx()` is one
transaction.  On SQLite a write transaction starts with BEGIN IMMEDIATE (writers queue, readers go
on in WAL); on PostgreSQL concurrent writers serialise on advisory locks (`lock()`), held until the
transaction ends, so several workers can group messages into incidents without racing.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("edge.hub.db")


class StoreError(Exception):
    """The database cannot be opened or migrated; one line."""


class Tx:
    """A transaction's cursor: `execute(sql, params)` returns rows (tuples)."""

    def __init__(self, db: Database, conn):
        self.db = db
        self.conn = conn
        self.changed = False  # it wrote to the change feed: Database.on_commit runs after the commit

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.db._execute(self.conn, sql, params)

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        rows = self.execute(sql, params)
        return rows[0] if rows else None

    def lock(self, key: str) -> None:
        """Serialise writers on `key` until the transaction ends (PostgreSQL; SQLite writers already are)."""
        self.lock_many([key])

    def lock_many(self, keys: Sequence[str]) -> None:
        """Take every key's lock in one statement, always in the same order (no deadlock between workers)."""
        if self.db.kind == "postgres" and keys:
            numbers = sorted({zlib.crc32(k.encode()) - (1 << 31) for k in keys})
            self.execute("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(?::bigint[]) AS k", (numbers,))

    @property
    def postgres(self) -> bool:
        return self.db.kind == "postgres"

    def among(self, column: str, values: Sequence[Any]) -> tuple[str, list]:
        """`column` is one of `values`: one array parameter on PostgreSQL (a long IN list costs more to
        parse than to run there), an IN list on SQLite."""
        if self.postgres:
            return f"{column} = ANY(?)", [list(values)]
        return f"{column} IN ({', '.join('?' for _ in values)})", list(values)

    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], suffix: str = "") -> None:
        """Many rows at once: on PostgreSQL one COPY (unless `suffix` adds an ON CONFLICT), else one
        prepared INSERT for every row (pipelined on PostgreSQL)."""
        if not rows:
            return
        if self.postgres and not suffix:
            with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)}) "
                         f"{suffix}", rows)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self.db.kind == "sqlite":
            self.conn.executemany(sql, [tuple(r) for r in rows])
        else:
            with self.conn.cursor() as cur:
                cur.executemany(sql.replace("?", "%s"), [tuple(r) for r in rows])


class Database:
    def __init__(self, url: str, *, password: str | None = None, pool: int = 8):
        self.url = url
        self.kind = "postgres" if url.startswith(("postgresql://", "postgres://")) else "sqlite"
        self.password = password
        self._pool: queue.LifoQueue = queue.LifoQueue()
        self._size = 0
        self._max = pool
        self._lock = threading.Lock()
        self.on_commit: list[Callable[[], None]] = []  # after a transaction that changed the feed commits
        if self.kind == "sqlite":
            try:
                Path(url).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot make the folder of SQLite store {url}: {exc.strerror}") from None
        conn = self._connect()  # fails here, with one line, when the store cannot be reached
        self._size = 1
        self._pool.put(conn)

    def __repr__(self) -> str:
        return f"Database({self.kind}: {redact(self.url)})"

    # --- connections ---------------------------------------------------------------------------
    def _connect(self):
        if self.kind == "sqlite":
            import apsw

            try:
                conn = apsw.Connection(self.url)
                conn.setbusytimeout(30_000)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute("PRAGMA foreign_keys=ON")
            except apsw.Error as exc:
                raise StoreError(f"cannot open SQLite store {self.url}: {exc}") from None
            return conn
        import psycopg

        try:
            kwargs = {"password": self.password} if self.password else {}
            return psycopg.connect(self.url, autocommit=False, connect_timeout=10, **kwargs)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL {redact(self.url)}: "
                             f"{str(exc).strip().splitlines()[0]}") from None

    @contextlib.contextmanager
    def _borrow(self) -> Iterator[Any]:
        try:
            conn = self._pool.get_nowait()
        except queue.Empty:
            with self._lock:
                grow = self._size < self._max
                if grow:
                    self._size += 1
            if grow:
                try:
                    conn = self._connect()
                except Exception:
                    with self._lock:
                        self._size -= 1
                    raise
            else:
                conn = self._pool.get()
        broken = False
        try:
            yield conn
        except BaseException:
            broken = self.kind == "postgres" and conn.closed
            raise
        finally:
            if broken:
                with self._lock:
                    self._size -= 1
            else:
                self._pool.put(conn)

    @contextlib.contextmanager
    def tx(self, write: bool = True) -> Iterator[Tx]:
        """One transaction; committed when the block ends, rolled back on an exception."""
        with self._borrow() as conn:
            t = Tx(self, conn)
            if self.kind == "sqlite":
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield t
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            else:
                try:
                    yield t
                except BaseException:
                    if not conn.closed:
                        conn.rollback()
                    raise
                conn.commit()
        if t.changed:
            for hook in self.on_commit:
                hook()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self.tx(write=False) as t:
            return t.execute(sql, params)

    def _execute(self, conn, sql: str, params: Sequence[Any]) -> list[tuple]:
        if self.kind == "sqlite":
            return list(conn.execute(sql, tuple(params)))
        with conn.cursor() as cur:
            cur.execute(_pg_sql(sql, params), tuple(params))
            return cur.fetchall() if cur.description is not None else []

    def close(self) -> None:
        while True:
            try:
                conn = self._pool.get_nowait()
            except queue.Empty:
                return
            conn.close()

    # --- schema ----------------------------------------------------------------------------------
    def migrate(self) -> int:
        """Apply the migrations not applied yet, each in its own transaction; the schema version."""
        from .migrations import MIGRATIONS

        serial = ("INTEGER PRIMARY KEY AUTOINCREMENT" if self.kind == "sqlite"
                  else "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
        with self.tx() as t:
            t.lock("edge-hub-migrate")  # several workers starting at once: one migrates, the others wait
            t.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied DOUBLE "
                      "PRECISION NOT NULL)")
        version = 0
        for number, sql in enumerate(MIGRATIONS, start=1):
            with self.tx() as t:
                t.lock("edge-hub-migrate")
                if t.one("SELECT 1 FROM schema_version WHERE version = ?", (number,)):
                    version = number
                    continue
                for statement in _statements(sql.replace("{serial}", serial)):
                    t.execute(statement)
                t.execute("INSERT INTO schema_version (version, applied) VALUES (?, ?)", (number, time.time()))
                log.info("store: migrated to schema version %d", number)
                version = number
        return version


def _pg_sql(sql: str, params: Sequence[Any]) -> str:
    """`?` to psycopg's placeholders: a list goes in binary (`%b`), which spares psycopg quoting
    and escaping every element of the arrays the batched statements pass (half their client time)."""
    if not any(isinstance(p, list) for p in params):
        return sql.replace("?", "%s")
    parts = sql.split("?")
    out = [parts[0]]
    for param, part in zip(params, parts[1:], strict=False):
        out += ["%b" if isinstance(param, list) else "%s", part]
    return "".join(out)


def _statements(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]


def redact(url: str) -> str:
    """A database URL without its password, for logs and errors."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)
