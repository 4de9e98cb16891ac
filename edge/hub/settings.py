"""Settings of the hub's tools (listen, command, receive) as plain objects, so the hub service and
tests call them as library functions; the CLI builds them from its arguments (`from_args`)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields
from pathlib import Path

#: After losing the broker the hub's tools try again after 1 s, doubling up to this: a hub is one
#: client, not a fleet that could storm a restarted broker, and every second it is away is a
#: second the nodes' receipts wait (paho's own default grew to 120 s).
RECONNECT_INITIAL_S = 1.0
RECONNECT_MAX_S = 5.0


@dataclass(frozen=True)
class BrokerSettings:
    """How a hub tool reaches the broker (the `broker` option group of every edge-hub command)."""

    broker: str = "localhost:1883"  # HOST:PORT
    prefix: str = "edge"
    username: str | None = None
    password_env: str | None = None  # the password is read from this environment variable
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    client_id: str | None = None  # None: the tool's own default
    reconnect_max: float = RECONNECT_MAX_S

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> BrokerSettings:
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)})


@dataclass(frozen=True)
class ListenSettings:
    """`edge-hub listen`: store and print every node's lifecycle messages and status."""

    broker: BrokerSettings = field(default_factory=BrokerSettings)
    db: Path = Path("hub-alerts.db")
    shared: str | None = None  # MQTT 5 shared subscription group
    count: int | None = None  # stop after this many new lifecycle messages
    duration: float | None = None  # stop after this many seconds

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ListenSettings:
        return cls(BrokerSettings.from_args(args), Path(args.db), args.shared, args.count, args.duration)


@dataclass(frozen=True)
class CommandSettings:
    """`edge-hub command|speak`: sign with the hub key, send, wait for the result."""

    broker: BrokerSettings = field(default_factory=BrokerSettings)
    key: Path = Path("hub.key")
    timeout: float = 10.0  # seconds to wait for the result
    lifetime: float = 60.0  # seconds the command stays valid

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> CommandSettings:
        return cls(BrokerSettings.from_args(args), Path(args.key), args.timeout, args.lifetime)


@dataclass(frozen=True)
class ReceiveSettings:
    """`edge-hub receive`: receive, verify and store evidence uploads."""

    broker: BrokerSettings = field(default_factory=BrokerSettings)
    dir: Path = Path("hub-evidence")
    node_keys: Path | None = None  # default DIR/node-keys
    key: Path = Path("hub.key")
    shared: str | None = None
    duration: float | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ReceiveSettings:
        return cls(BrokerSettings.from_args(args), Path(args.dir), Path(args.node_keys) if args.node_keys else None,
                   Path(args.key), args.shared, args.duration)
