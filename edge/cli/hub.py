"""edge-hub: the hub side of the product: keys, alert listener, signed commands, loudspeakers."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import __version__


def cmd_keys_init(args: argparse.Namespace) -> int:
    from ..crypto import generate_keypair

    folder = Path(args.dir)
    try:
        generate_keypair(folder / "hub.key", folder / "hub.pub", overwrite=args.force)
    except FileExistsError as exc:
        print(f"edge-hub: {exc}", file=sys.stderr)
        return 2
    print(f"hub signing key: {folder / 'hub.key'} (keep it secret, mode 0600)")
    print(f"hub public key:  {folder / 'hub.pub'} (copy it to every node as <state_dir>/keys/hub.pub)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from ..hub.command import add_command, add_speak
    from ..hub.connection import add_broker_options
    from ..hub.listen import add_listen
    from ..hub.provision_cli import add_provision
    from ..hub.receive import add_receive

    parser = argparse.ArgumentParser(prog="edge-hub", description="Hub side of the edge product.")
    parser.add_argument("--version", action="version", version=f"edge-hub {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    add_broker_options(common)

    keys = sub.add_parser("keys", help="the hub's command-signing key pair")
    ksub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    p = ksub.add_parser("init", help="make hub.key and hub.pub")
    p.add_argument("--dir", default=".", help="where to write them (default: here)")
    p.add_argument("--force", action="store_true", help="replace an existing key (nodes need the new hub.pub)")
    p.set_defaults(func=cmd_keys_init)

    add_listen(sub, common)
    add_command(sub, common)
    add_speak(sub, common)
    add_receive(sub, common)
    add_provision(sub)
    from ..hub.dataset_cli import add_dataset  # issue 21
    from ..hub.modelsign import add_model  # issue 21

    add_dataset(sub, common)
    add_model(sub, common)

    from .hubserve import add_service_commands

    add_service_commands(sub)  # serve, check-config, user
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
