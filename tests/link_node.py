"""A node process for link tests: `python -m tests.link_node PROFILE STATE [--fill N]`.

It enqueues N alerts (one transaction) if asked, then runs the link until killed, answering
`ping` commands, so the tests can kill -9 it in the middle of a drain and start it again.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path

from edge.config import load_profile
from edge.link import NodeLink


def main() -> None:
    profile = load_profile(sys.argv[1])
    state = Path(sys.argv[2])
    link = NodeLink(profile, state, "test")
    if "--fill" in sys.argv:
        n = int(sys.argv[sys.argv.index("--fill") + 1])
        link.outbox.put_many([(link.topics.alert, json.dumps({"id": f"v{i:06d}", "stage": "alert", "n": i}).encode(),
                               1, False, "alert", f"v{i:06d}:alert") for i in range(n)])
    link.router.register("ping", lambda command, reply: reply(True, None, {"pong": True}))
    link.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.is_set():
            link.run_commands()
            time.sleep(0.01)
    except KeyboardInterrupt:
        pass
    finally:
        link.stop()


if __name__ == "__main__":
    main()
