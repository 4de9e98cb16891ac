"""Users, passwords, sessions and roles.

Passwords are argon2id hashes (argon2-cffi).  A login makes a random session token, sent as an
HttpOnly, SameSite=Strict cookie (Secure over HTTPS); the store keeps only its SHA-256.  Each session
has a CSRF token too, sent in a readable cookie; every state-changing request must repeat it in the
X-CSRF-Token header (double submit, checked against the session's own token).  Logins are limited
per user name and per client address within a minute, counted in the store, so that several `serve`
workers behind one address share one limit (a guesser cannot get N times the attempts by landing on
N workers), and a restart does not reset it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections import defaultdict, deque

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .db import Database

ROLES = ("viewer", "dispatcher", "admin")
RANK = {r: i for i, r in enumerate(ROLES)}
NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD = 8

_hasher = PasswordHasher()
# A hash to verify against when the user does not exist, so both cases take the same time.
_DUMMY = _hasher.hash("not a password of anyone")


class AuthError(Exception):
    pass


def _check(name: str, password: str | None, role: str | None) -> None:
    if not NAME.match(name):
        raise AuthError(f"user name {name!r}: letters, digits and _.@- only, up to 64")
    if password is not None and len(password) < MIN_PASSWORD:
        raise AuthError(f"password: at least {MIN_PASSWORD} characters")
    if role is not None and role not in ROLES:
        raise AuthError(f"role {role!r}: one of {', '.join(ROLES)}")


def add_user(db: Database, name: str, password: str, role: str) -> None:
    _check(name, password, role)
    with db.tx() as t:
        if t.one("SELECT 1 FROM users WHERE name = ?", (name,)):
            raise AuthError(f"user {name} exists (use `edge-hub user passwd`)")
        t.execute("INSERT INTO users (name, password_hash, role, created) VALUES (?, ?, ?, ?)",
                  (name, _hasher.hash(password), role, time.time()))


def set_password(db: Database, name: str, password: str, role: str | None = None) -> None:
    _check(name, password, role)
    with db.tx() as t:
        if not t.one("SELECT 1 FROM users WHERE name = ?", (name,)):
            raise AuthError(f"no user {name}")
        t.execute("UPDATE users SET password_hash = ? WHERE name = ?", (_hasher.hash(password), name))
        if role:
            t.execute("UPDATE users SET role = ? WHERE name = ?", (role, name))
        t.execute("DELETE FROM sessions WHERE username = ?", (name,))  # a new password ends old sessions


def list_users(db: Database) -> list[tuple[str, str, float]]:
    return [(n, r, c) for n, r, c in db.query("SELECT name, role, created FROM users ORDER BY name")]


def authenticate(db: Database, name: str, password: str) -> str | None:
    """The user's role if the password is right."""
    row = db.query("SELECT password_hash, role FROM users WHERE name = ?", (name,))
    stored = row[0][0] if row else _DUMMY
    try:
        _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    return row[0][1] if row else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(db: Database, name: str, ttl_s: float) -> tuple[str, str]:
    """(session token, csrf token)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    now = time.time()
    with db.tx() as t:
        t.execute("DELETE FROM sessions WHERE expires < ?", (now,))
        t.execute("INSERT INTO sessions (token_hash, username, csrf, expires) VALUES (?, ?, ?, ?)",
                  (_digest(token), name, csrf, now + ttl_s))
    return token, csrf


def session(db: Database, token: str) -> tuple[str, str, str] | None:
    """(user, role, csrf) of a live session."""
    rows = db.query("SELECT s.username, u.role, s.csrf FROM sessions s JOIN users u ON u.name = s.username "
                    "WHERE s.token_hash = ? AND s.expires > ?", (_digest(token), time.time()))
    return tuple(rows[0]) if rows else None


def close_session(db: Database, token: str) -> None:
    with db.tx() as t:
        t.execute("DELETE FROM sessions WHERE token_hash = ?", (_digest(token),))


class RateLimit:
    """At most `per_minute` attempts per key within the last 60 s; counted in `db`'s `login_attempts`
    when given (shared by every worker on that store), else in this process's memory."""

    WINDOW_S = 60.0

    def __init__(self, per_minute: int, db: Database | None = None):
        self.per_minute = per_minute
        self.db = db
        self._hits: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def allow(self, *keys: str) -> bool:
        """Counts the attempt (on every key) when it is allowed."""
        if self.db is not None:
            return self._allow_stored(keys)
        now = time.monotonic()
        with self._lock:
            ok = True
            for key in keys:
                hits = self._hits[key]
                while hits and now - hits[0] > self.WINDOW_S:
                    hits.popleft()
                ok = ok and len(hits) < self.per_minute
            if ok:
                for key in keys:
                    self._hits[key].append(now)
            return ok

    def _allow_stored(self, keys: tuple[str, ...]) -> bool:
        now = time.time()
        with self.db.tx() as t:
            t.lock_many([f"login:{k}" for k in keys])  # two workers cannot both take the last attempt
            t.execute("DELETE FROM login_attempts WHERE at < ?", (now - self.WINDOW_S,))
            where, params = t.among("subject", list(keys))
            counts = dict(t.execute(f"SELECT subject, count(*) FROM login_attempts WHERE {where} GROUP BY subject", params))
            if any(int(counts.get(k, 0)) >= self.per_minute for k in keys):
                return False
            t.executemany("INSERT INTO login_attempts (subject, at) VALUES (?, ?)", [(k, now) for k in keys])
        return True

    def retry_after(self, key: str) -> int:
        """Seconds until `key` may try again."""
        if self.db is not None:
            row = self.db.query("SELECT min(at) FROM login_attempts WHERE subject = ? AND at >= ?",
                                (key, time.time() - self.WINDOW_S))
            first = row[0][0] if row else None
            return max(1, int(self.WINDOW_S - (time.time() - first))) if first is not None else 1
        hits = self._hits.get(key)
        return max(1, int(self.WINDOW_S - (time.monotonic() - hits[0]))) if hits else 1
