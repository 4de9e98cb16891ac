"""`edge-sim demo`: the product tour, bounded, on one machine (what `make demo` runs).

A local hub (mosquitto, a hub signing key, `edge-hub serve` for alerts, evidence, incidents and the
API, and simulated officers' devices) and two nodes, a reservoir box and a market-street box, each on a simulated camera.  The
nodes detect, track and apply their rules; warnings are spoken (the speaker's file sink writes WAVs
under demo-out/speaker/<node>/); alerts go to the hub through the nodes' durable outboxes; evidence
bundles are sealed, uploaded, verified at the hub and acknowledged; the hub pings the nodes, has a
bad command refused, speaks once through a node, takes a snapshot through its API and dispatches the
nearest officer to an alert incident, who reports on scene and done.  The web console is at the
API's address under /console/ (the URL and a demo login are printed); with --keep the hub and the
nodes run on until Ctrl-C.  A live view in a terminal (plain lines
elsewhere), a summary table and summary.json at the end.  Exit 0 only when every step worked.

The steps live in simulator/tour/.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_demo(args: argparse.Namespace) -> int:
    from simulator.tour import run_tour

    return run_tour(args)


def add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="a bounded tour of the product (what `make demo` runs)")
    p.add_argument("--out", type=Path, default=Path("demo-out"), help="demo folder (default demo-out/, replaced)")
    p.add_argument("--duration", type=float, default=None, metavar="S",
                   help="let the nodes watch at most S seconds before they settle and stop (default: until "
                        "their scenarios end)")
    p.add_argument("--realtime", action="store_true", help="play the scenarios in real time (4-5 minutes)")
    p.add_argument("--plain", action="store_true", help="plain progress lines even in a terminal (no live view)")
    p.add_argument("--preview-s", type=float, default=10.0, metavar="S", help="length of each preview (default 10)")
    p.add_argument("--keep", action="store_true",
                   help="keep the hub, its web console and the nodes running until Ctrl-C (to click around)")
    p.set_defaults(func=cmd_demo)
