"""One log format for every edge command: time, node, level, message, on stderr."""

from __future__ import annotations

import logging
import os
import re
import sys
import threading


def setup_logging(node: str = "-", level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"%(asctime)s {node} %(levelname)s %(name)s: %(message)s",
                                           datefmt="%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


_NATIVE_PREFIX = re.compile(r"^(\[ ?(WARN|ERROR|INFO)[^\]]*\]\s*(global\s+)?|\[[a-z0-9_]+ @ 0x[0-9a-f]+\]\s*)")


def route_native_stderr(logger_name: str = "edge.native") -> None:
    """Lines that C libraries (OpenCV, FFmpeg, ALSA) and child processes write straight to file
    descriptor 2 go through the log format too, one log line each, instead of raw text mixed into
    the node's log (and torn mid-line into the node's own lines).

    Python's own stderr (`sys.stderr`: log handlers, one-line errors, tracebacks, faulthandler set up
    afterwards) keeps writing to the real stderr; only fd 2 becomes a pipe read by a thread.
    """
    try:
        real = os.dup(2)
        r, w = os.pipe()
    except OSError:
        return
    stream = os.fdopen(real, "w", buffering=1, encoding="utf-8", errors="backslashreplace")
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr:
            handler.setStream(stream)
    sys.stderr = stream
    os.dup2(w, 2)
    os.close(w)
    log = logging.getLogger(logger_name)

    def pump() -> None:
        with os.fdopen(r, "rb", buffering=0) as pipe:
            pending = b""
            while chunk := pipe.read(4096):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for raw in lines:
                    text = _NATIVE_PREFIX.sub("", raw.decode("utf-8", "replace").strip())
                    if text:
                        log.warning("%s", text)

    threading.Thread(target=pump, name="native-stderr", daemon=True).start()
