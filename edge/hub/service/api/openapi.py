"""`python -m edge.hub.service.api.openapi > docs/hub-openapi.json`: the API's OpenAPI document,
made from the routers themselves (a test checks the committed copy is current)."""

from __future__ import annotations

import json
import sys


def document() -> dict:
    from ..config import HubConfig
    from .app import build_app
    from .deps import Hub

    return build_app(Hub(db=None, config=HubConfig(), key=None, publish=None, evidence_root=None)).openapi()


def main() -> int:
    json.dump(document(), sys.stdout, indent=1, ensure_ascii=False, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
