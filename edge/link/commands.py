"""Signed commands from the hub: verify, refuse what must be refused, and dispatch.

An envelope is {"id", "node", "name", "args", "issued_at", "expires_at", "nonce", "sig"}; `sig` is
the hub's Ed25519 signature (base64) over the canonical JSON of every other field.  A command is
refused when it is malformed, unsigned, badly signed, addressed to another node or another command
topic, expired, issued in the future, valid for too long, or replayed (its nonce was seen before;
the nonce cache is in SQLite and survives restarts).  Every command gets exactly one result.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..contract.commands import CommandArgs, first_error, renamed
from ..crypto import canonical_json, sign, unb64, verify

log = logging.getLogger("edge.link.commands")

FIELDS = ("id", "node", "name", "args", "issued_at", "expires_at", "nonce", "sig")
MAX_LIFETIME_S = 3600.0  # a command valid longer than this is refused
CLOCK_SKEW_S = 60.0  # tolerated difference between the hub's clock and ours
MAX_PAYLOAD = 256 * 1024
MAX_DEPTH = 32  # nesting of arrays and objects; a real command needs 3 or 4


def nesting_depth(payload: bytes, limit: int = MAX_DEPTH) -> int:
    """How deep the arrays and objects of a JSON text nest, without parsing it (stops past `limit`).

    Checked before json.loads: a parser recursing into 5,000 nested brackets raises RecursionError
    deep in the interpreter, and a command that breaks the parser would get no result."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in payload:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def parse_limited(payload: bytes) -> object:
    """json.loads behind the size and nesting limits; CommandRefused says which one failed."""
    if len(payload) > MAX_PAYLOAD:
        raise CommandRefused(f"malformed: payload larger than {MAX_PAYLOAD} bytes")
    if nesting_depth(payload) > MAX_DEPTH:
        raise CommandRefused(f"malformed: nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise CommandRefused("malformed: not JSON") from None


class CommandRefused(Exception):
    """One line saying why a command was not run."""


@dataclass(frozen=True)
class Command:
    id: str
    node: str
    name: str
    args: dict[str, Any]
    issued_at: float
    expires_at: float
    nonce: str
    #: the args as their model (edge.contract.commands) once the router has validated them
    params: Any = None


def _time(value: Any, field: str) -> float:
    if not isinstance(value, str):
        raise CommandRefused(f"malformed: {field} must be an RFC 3339 time string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandRefused(f"malformed: {field} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise CommandRefused(f"malformed: {field} has no time zone")
    return moment.timestamp()


def envelope_id(payload: bytes) -> str | None:
    """The command id, if one can be read at all (for the result of a malformed command)."""
    try:
        value = parse_limited(payload)
    except CommandRefused:
        return None
    cid = value.get("id") if isinstance(value, dict) else None
    return cid if isinstance(cid, str) and len(cid) <= 128 else None


def make_command(key, node: str, name: str, args: dict | None = None, *, lifetime_s: float = 60.0,
                 now: float | None = None, command_id: str | None = None) -> dict:
    """A signed envelope (the hub side; also used by tests and the demo)."""
    now = time.time() if now is None else now
    issued = datetime.fromtimestamp(now, UTC)
    body = {
        "id": command_id or secrets.token_hex(8),
        "node": node,
        "name": name,
        "args": args or {},
        "issued_at": issued.isoformat(timespec="milliseconds"),
        "expires_at": (issued + timedelta(seconds=lifetime_s)).isoformat(timespec="milliseconds"),
        "nonce": secrets.token_hex(16),
    }
    from ..crypto import b64

    body["sig"] = b64(sign(key, canonical_json(body)))
    return body


class NonceCache:
    """Nonces of accepted commands, kept until their command would have expired anyway."""

    def __init__(self, path: Path):
        from .outbox import connect

        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = connect(path)
        with self._db:
            self._db.execute("CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, expires REAL NOT NULL)")

    def claim(self, nonce: str, expires: float, now: float) -> bool:
        """Record the nonce; False if it was already used."""
        with self._db:
            self._db.execute("DELETE FROM nonces WHERE expires < ?", (now - CLOCK_SKEW_S,))
            if self._db.execute("SELECT 1 FROM nonces WHERE nonce = ?", (nonce,)).fetchone():
                return False
            self._db.execute("INSERT INTO nonces (nonce, expires) VALUES (?, ?)", (nonce, expires + CLOCK_SKEW_S))
        return True

    def close(self) -> None:
        self._db.close()


class CommandVerifier:
    def __init__(self, node: str, hub_key, nonces: NonceCache, clock: Callable[[], float] = time.time):
        self.node = node
        self.hub_key = hub_key  # None: no hub key provisioned, every command is refused
        self.nonces = nonces
        self.clock = clock

    def verify(self, topic_name: str, payload: bytes) -> Command:
        env = parse_limited(payload)
        if not isinstance(env, dict):
            raise CommandRefused("malformed: not a JSON object")
        if "sig" not in env:
            raise CommandRefused("unsigned")
        missing = [f for f in FIELDS if f not in env]
        if missing:
            raise CommandRefused(f"malformed: missing {', '.join(missing)}")
        extra = sorted(set(env) - set(FIELDS))
        if extra:
            raise CommandRefused(f"malformed: unknown field {', '.join(extra)}")
        for field in ("id", "node", "name", "nonce", "sig"):
            if not isinstance(env[field], str) or not env[field]:
                raise CommandRefused(f"malformed: {field} must be a non-empty string")
        if not isinstance(env["args"], dict):
            raise CommandRefused("malformed: args must be an object")
        if self.hub_key is None:
            raise CommandRefused("no hub public key is provisioned on this node; commands are disabled")
        try:
            signature = unb64(env["sig"])
        except ValueError:
            raise CommandRefused("bad signature: not base64") from None
        body = {k: v for k, v in env.items() if k != "sig"}
        if not verify(self.hub_key, signature, canonical_json(body)):
            raise CommandRefused("bad signature")
        if env["node"] != self.node:
            raise CommandRefused(f"addressed to node {env['node']!r}, not {self.node!r}")
        if env["name"] != topic_name:
            raise CommandRefused(f"command {env['name']!r} arrived on the topic of {topic_name!r}")
        issued, expires = _time(env["issued_at"], "issued_at"), _time(env["expires_at"], "expires_at")
        now = self.clock()
        if expires < now:
            raise CommandRefused("expired")
        if issued > now + CLOCK_SKEW_S:
            raise CommandRefused("issued in the future (is the node's clock right?)")
        if expires - issued > MAX_LIFETIME_S:
            raise CommandRefused(f"valid for longer than {MAX_LIFETIME_S:.0f} s")
        if not self.nonces.claim(env["nonce"], expires, now):
            raise CommandRefused("replayed")
        return Command(env["id"], env["node"], env["name"], env["args"], issued, expires, env["nonce"])


Reply = Callable[[bool, str | None, dict | None], None]
Handler = Callable[[Command, Reply], None]


class CommandRouter:
    """Runs verified commands on the node's own thread (handlers touch the pipeline), one at a time.

    Each command is registered with its arguments' model: `register("zone", ZoneArgs, handler)`.  The
    router validates `args` against it before the handler runs (a refusal names the field, in one
    line) and hands the handler the model as `command.params`; old argument names the model lists as
    deprecated are renamed, with a warning in the log.  `register(name, handler)` (no model) passes
    `args` through unchecked: for tests and tools with commands of their own."""

    def __init__(self):
        self.handlers: dict[str, tuple[type[CommandArgs] | None, Handler]] = {}

    def register(self, name: str, model: type[CommandArgs] | Handler, handler: Handler | None = None) -> None:
        if handler is None:
            model, handler = None, model
        self.handlers[name] = (model, handler)

    def dispatch(self, command: Command, reply: Reply) -> None:
        entry = self.handlers.get(command.name)
        if entry is None:
            reply(False, f"unknown command {command.name!r} (known: {', '.join(sorted(self.handlers))})", None)
            return
        model, handler = entry
        if model is not None:
            args, notes = renamed(model, command.args)
            for note in notes:
                log.warning("command %s (%s): %s; the old name is accepted until the next release",
                            command.name, command.id, note)
            try:
                params = model.model_validate(args)
            except ValidationError as exc:
                reply(False, first_error(exc), None)
                return
            command = replace(command, args=args, params=params)
        try:
            handler(command, reply)
        except CommandRefused as exc:
            reply(False, str(exc), None)
        except Exception as exc:  # a handler bug must not take the node down
            log.exception("command %s (%s) failed", command.name, command.id)
            reply(False, f"failed: {type(exc).__name__}: {exc}", None)
