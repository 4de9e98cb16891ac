"""edge-hub: the hub side (alert receiver, evidence receiver, command signer).

Its subcommands arrive with the MQTT link; until then it only reports its version.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-hub",
        description="Hub side of the edge product. listen, speak, command and receive arrive with the MQTT link.",
    )
    parser.add_argument("--version", action="version", version=f"edge-hub {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    build_parser().parse_args(argv)
    print("edge-hub: no hub commands in this release yet (see edge-hub --help)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
