"""`edge-hub command NODE NAME --arg k=v`: sign a command with the hub key, send it, await its result."""

from __future__ import annotations

import argparse
import json
import queue
import sys
from pathlib import Path

from ..contract.commands import ARGS as COMMAND_ARGS
from ..contract.topics import Topics
from ..crypto import KeyFileError, load_private_key
from ..link.commands import make_command
from .connection import connect
from .settings import CommandSettings


def parse_args_list(items: list[str]) -> dict:
    """k=v pairs: v is JSON when it parses (numbers, true, objects), @FILE reads a file, else a string."""
    out: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--arg {item!r}: expected KEY=VALUE")
        if value.startswith("@"):
            out[key] = Path(value[1:]).read_text(encoding="utf-8")
            continue
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def send_command(settings: CommandSettings, node: str, name: str, cmd_args: dict) -> dict | None:
    """Send one signed command and return its result, or None on timeout."""
    key = load_private_key(settings.key)
    envelope = make_command(key, node, name, cmd_args, lifetime_s=settings.lifetime)
    results: queue.Queue = queue.Queue()
    topics = Topics(settings.broker.prefix, node)
    client = connect(settings.broker, f"edge-hub-command-{envelope['id']}", subscriptions=(topics.cmd_result,),
                     on_message=lambda c, u, m: results.put(m.payload))
    try:
        client.publish(topics.command(name), json.dumps(envelope), qos=1).wait_for_publish(settings.timeout)
        while True:
            try:
                payload = results.get(timeout=settings.timeout)
            except queue.Empty:
                return None
            try:
                result = json.loads(payload)
            except ValueError:
                continue
            if isinstance(result, dict) and result.get("id") == envelope["id"]:
                return result
    finally:
        client.loop_stop()
        client.disconnect()


def cmd_command(args: argparse.Namespace) -> int:
    try:
        cmd_args = parse_args_list(args.arg)
        if args.args_json:
            cmd_args.update(json.loads(args.args_json))
        result = send_command(CommandSettings.from_args(args), args.node, args.name, cmd_args)
    except (ValueError, OSError, KeyFileError, ConnectionError) as exc:
        print(f"edge-hub: {exc}", file=sys.stderr)
        return 2
    if result is None:
        print(f"edge-hub: no result from {args.node} within {args.timeout:g} s (offline? the command stays valid "
              f"for {args.lifetime:g} s and runs if the node returns in time)", file=sys.stderr)
        return 2
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result.get("ok") else 1


def cmd_speak(args: argparse.Namespace) -> int:
    cmd_args: dict = {"clip": args.clip} if args.clip else {"text": args.text}
    if args.volume is not None:
        cmd_args["volume"] = args.volume
    if args.repeat is not None:
        cmd_args["repeat"] = args.repeat
    args.arg, args.args_json, args.name = [], json.dumps(cmd_args), "speak"
    return cmd_command(args)


def add_speak(sub: argparse._SubParsersAction, common) -> None:
    p = sub.add_parser("speak", parents=[common], help="play a clip or a text on a node's loudspeaker; "
                       "the result comes when it has played")
    p.add_argument("node")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--clip", help="a clip id from the node's library (e.g. no_fishing)")
    what.add_argument("--text", help="Mandarin text, spoken by the node's offline TTS")
    p.add_argument("--volume", type=float, help="0 to 1")
    p.add_argument("--repeat", type=int, help="1 to 5")
    p.add_argument("--key", default="hub.key", help="the hub's private signing key (default hub.key)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait until it has played")
    p.add_argument("--lifetime", type=float, default=60.0, help="seconds the command stays valid")
    p.set_defaults(func=cmd_speak)


def add_command(sub: argparse._SubParsersAction, common) -> None:
    p = sub.add_parser("command", parents=[common], help="sign and send a command to a node, print its result")
    p.add_argument("node")
    p.add_argument("name", help=", ".join(COMMAND_ARGS) + " (their args: docs/mqtt-api.yaml)")
    p.add_argument("--arg", action="append", default=[], metavar="KEY=VALUE",
                   help="command argument (JSON value, @FILE for a file's text, else a string); repeatable")
    p.add_argument("--args-json", help="all arguments as one JSON object")
    p.add_argument("--key", default="hub.key", help="the hub's private signing key (default hub.key)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the result")
    p.add_argument("--lifetime", type=float, default=60.0, help="seconds the command stays valid")
    p.set_defaults(func=cmd_command)
