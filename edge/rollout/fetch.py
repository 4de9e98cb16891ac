"""Fetch a model file over HTTP(S), resumable (Range) and checked against the signed sha256.

Why HTTP(S) and not MQTT segments: a model is one file every node needs, read once per rollout; the
hub service serves files already, and a `.part` file plus a Range request resumes an interrupted
download.  The transport is not trusted: the hash in the hub-signed manifest decides.
"""

from __future__ import annotations

import os
import ssl
import urllib.error
import urllib.request
from pathlib import Path

from ..util import fsync_dir, sha256_file
from .signature import RolloutError

CHUNK = 256 * 1024


def _context(ca_file: Path | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


def fetch(url: str, target: Path, sha256: str, *, timeout_s: float = 30.0, ca_file: Path | None = None,
          max_bytes: int = 512 * 1024**2) -> Path:
    """Download URL to TARGET (through TARGET.part, resumed where an earlier try stopped), fsync, rename."""
    if not url.startswith(("https://", "http://")):
        raise RolloutError(f"model url must be http(s)://, not {url[:40]!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and sha256_file(target) == sha256:
        return target
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        context = _context(ca_file) if url.startswith("https://") else None
        with urllib.request.urlopen(request, timeout=timeout_s, context=context) as response:
            if have and response.status != 206:  # the server ignored the range: start again
                have = 0
            with open(part, "ab" if have else "wb") as f:
                while block := response.read(CHUNK):
                    f.write(block)
                    if f.tell() > max_bytes:
                        raise RolloutError(f"model file at {url} is larger than {max_bytes} bytes")
                f.flush()
                os.fsync(f.fileno())
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # asked past the end: the part may be whole already
            pass
        else:
            raise RolloutError(f"model download from {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ssl.SSLError) as exc:
        raise RolloutError(f"model download from {url}: {getattr(exc, 'reason', exc)} "
                           "(the part already fetched is kept; the next try resumes)") from None
    actual = sha256_file(part)
    if actual != sha256:
        part.unlink(missing_ok=True)
        raise RolloutError(f"model file from {url}: sha256 {actual[:12]}... is not the signed {sha256[:12]}...")
    os.replace(part, target)
    fsync_dir(target.parent)
    return target

