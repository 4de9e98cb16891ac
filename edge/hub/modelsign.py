"""`edge-hub model sign|rollout|rollback`: sign a model folder with the hub key and roll it out.

The node gets the signed manifest inside the signed `model` command and fetches the ONNX from URL
(the hub service, or any HTTP(S) server: the hash in the manifest decides, not the server).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..crypto import KeyFileError, load_private_key
from ..detect.model import MANIFEST, ModelError
from ..rollout.signature import SIGNATURE, sign_manifest


def rollout_args(folder: Path, url: str) -> dict:
    """The args of a `model` rollout command for a signed FOLDER whose ONNX is served at URL."""
    sig_p = folder / SIGNATURE
    if not sig_p.exists():
        raise ValueError(f"{folder}: not signed (run `edge-hub model sign {folder}` first)")
    return {"action": "rollout", "manifest": (folder / MANIFEST).read_text(encoding="utf-8"),
            "sig": sig_p.read_text(encoding="ascii").strip(), "url": url}


def cmd_sign(args: argparse.Namespace) -> int:
    try:
        sign_manifest(Path(args.folder), load_private_key(args.key))
    except (KeyFileError, ModelError, OSError) as exc:
        print(f"edge-hub: {exc}", file=sys.stderr)
        return 2
    manifest = json.loads((Path(args.folder) / MANIFEST).read_text())
    print(f"signed {args.folder}: {manifest['name']} {manifest['version']} sha256 {manifest['sha256'][:12]}...")
    return 0


def cmd_rollout(args: argparse.Namespace) -> int:
    from .command import send_command
    from .settings import CommandSettings

    try:
        cmd_args = rollout_args(Path(args.folder), args.url) if args.model_command == "rollout" else \
            {"action": "rollback"}
    except (ValueError, OSError) as exc:
        print(f"edge-hub: {exc}", file=sys.stderr)
        return 2
    worst = 0
    for node in args.nodes:
        try:
            result = send_command(CommandSettings.from_args(args), node, "model", cmd_args)
        except (OSError, KeyFileError, ConnectionError) as exc:
            print(f"edge-hub: {exc}", file=sys.stderr)
            return 2
        if result is None:
            print(json.dumps({"node": node, "ok": False, "error": "no result in time"}))
            worst = max(worst, 2)
            continue
        print(json.dumps({"node": node, **result}, ensure_ascii=False))
        worst = max(worst, 0 if result.get("ok") else 1)
    return worst


def add_model(sub: argparse._SubParsersAction, common) -> None:
    p = sub.add_parser("model", help="sign a model folder; roll it out to nodes or roll them back")
    msub = p.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    s = msub.add_parser("sign", help="write FOLDER/manifest.sig (the hub key over manifest.json)")
    s.add_argument("folder")
    s.add_argument("--key", default="hub.key")
    s.set_defaults(func=cmd_sign)
    for name, help_ in (("rollout", "tell nodes to fetch, verify, self-test and switch to a signed model"),
                        ("rollback", "tell nodes to go back to their previous model")):
        r = msub.add_parser(name, parents=[common], help=help_)
        r.add_argument("nodes", nargs="+")
        if name == "rollout":
            r.add_argument("--folder", required=True, help="the signed model folder")
            r.add_argument("--url", required=True, help="where the nodes fetch its model.onnx (http(s)://)")
        r.add_argument("--key", default="hub.key")
        r.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for each node's result")
        r.add_argument("--lifetime", type=float, default=600.0)
        r.set_defaults(func=cmd_rollout)
