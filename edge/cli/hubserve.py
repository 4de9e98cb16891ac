"""`edge-hub serve | check-config | user add|passwd|list`: the hub service's commands (parsing only;
edge.hub.service.service builds and runs it)."""

from __future__ import annotations

import argparse
import getpass
import os
import signal
import sys
import threading


def _config(args: argparse.Namespace):
    from ..config.profile import ConfigError
    from ..hub.service.config import load_config

    overrides = {}
    if getattr(args, "db", None):
        overrides["store.url"] = args.db
    if getattr(args, "client_id", None):
        overrides["broker.client_id"] = args.client_id
    if getattr(args, "api_listen", None):
        overrides["api.listen"] = args.api_listen
    if getattr(args, "no_evidence", False):
        overrides["evidence.receive"] = False
    try:
        return load_config(args.config, overrides=overrides)
    except ConfigError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return None


def cmd_check_config(args: argparse.Namespace) -> int:
    worst = 0
    for file in args.files:
        args.config = file
        config = _config(args)
        if config is None:
            worst = 2
            continue
        print(f"{file}: ok (store {'PostgreSQL' if config.store_url.startswith('postgres') else 'SQLite'}, "
              f"broker {config.broker.address}, api {config.api.listen if config.api.enabled else 'off'})")
    return worst


def cmd_serve(args: argparse.Namespace) -> int:
    from ..hub.service.service import HubService, StartError
    from ..logs import setup_logging

    config = _config(args)
    if config is None:
        return 2
    setup_logging("hub", config.hub.log_level)
    service = HubService(config, api=False if args.no_api else None)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        service.start()
    except StartError as exc:
        print(f"edge-hub: {exc}", file=sys.stderr)
        service.stop()
        return 2
    print(f"edge-hub: serving ({config.broker.client_id})", file=sys.stderr, flush=True)
    try:
        service.run(stop, duration_s=args.duration)
    finally:
        service.stop()
    return 0


def _open_db(args: argparse.Namespace):
    from ..hub.service.db import Database, StoreError

    config = _config(args)
    if config is None:
        return None
    password = os.environ.get(config.store.password_env) if config.store.password_env else None
    try:
        db = Database(config.store_url, password=password)
        db.migrate()
    except StoreError as exc:
        print(f"edge-hub: {exc}", file=sys.stderr)
        return None
    return db


def _password(args: argparse.Namespace) -> str | None:
    if args.password_env:
        value = os.environ.get(args.password_env)
        if value is None:
            print(f"edge-hub: environment variable {args.password_env} is not set", file=sys.stderr)
        return value
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        print("edge-hub: the passwords differ", file=sys.stderr)
        return None
    return first


def cmd_user(args: argparse.Namespace) -> int:
    from ..hub.service import auth

    db = _open_db(args)
    if db is None:
        return 2
    try:
        if args.user_command == "list":
            for name, role, _ in auth.list_users(db):
                print(f"{name}\t{role}")
            return 0
        password = _password(args)
        if password is None:
            return 2
        if args.user_command == "add":
            auth.add_user(db, args.name, password, args.role)
            print(f"user {args.name} added ({args.role})")
        else:
            auth.set_password(db, args.name, password, args.role)
            print(f"password of {args.name} changed; its sessions are closed")
        return 0
    except auth.AuthError as exc:
        print(f"edge-hub: {exc}", file=sys.stderr)
        return 2
    finally:
        db.close()


def add_service_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="the hub service: ingest with receipts, incidents, dispatch, commands, API")
    p.add_argument("--config", required=True, help="hub.toml")
    p.add_argument("--db", help="override [store] url: a SQLite file or postgresql://...")
    p.add_argument("--client-id", help="override [broker] client_id (each worker needs its own)")
    p.add_argument("--api-listen", metavar="HOST:PORT", help="override [api] listen")
    p.add_argument("--no-api", action="store_true", help="no HTTP API on this worker")
    p.add_argument("--no-evidence", action="store_true",
                   help="no evidence receiving on this worker (with mosquitto, one worker receives evidence)")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("check-config", help="validate hub.toml files: FILE: field.path: what is wrong")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_check_config)

    user = sub.add_parser("user", help="console users: add, passwd, list")
    usub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    for action, text in (("add", "add a user"), ("passwd", "set a user's password (and role)"),
                         ("list", "list users and roles")):
        q = usub.add_parser(action, help=text)
        q.add_argument("--config", required=True, help="hub.toml (for the store)")
        q.add_argument("--db", help="override [store] url")
        if action != "list":
            q.add_argument("name")
            q.add_argument("--role", choices=("viewer", "dispatcher", "admin"),
                           default="viewer" if action == "add" else None)
            src = q.add_mutually_exclusive_group()
            src.add_argument("--password-env", metavar="VAR", help="read the password from this variable")
            src.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
        q.set_defaults(func=cmd_user)
