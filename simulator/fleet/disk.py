"""A small disk for one node's evidence (a tmpfs) that the fleet can fill up and free again.

Mounting needs root (CAP_SYS_ADMIN); `mount_problem()` says in one line why it cannot be done here.
The fault fills the disk with a ballast file (every free byte) and deletes it when the fault ends:
the node meanwhile finds no room for clips and snapshots, as on a card that filled up.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

BALLAST = ".fleet-ballast"


def mount_problem() -> str | None:
    if os.geteuid() != 0:
        return "not root: a tmpfs cannot be mounted for the disk_full fault"
    if shutil.which("mount") is None or shutil.which("umount") is None:
        return "mount/umount are not installed"
    return None


class SmallDisk:
    def __init__(self, folder: Path, size_bytes: int):
        self.folder = folder
        self.size_bytes = size_bytes
        self.mounted = False
        self.ballast_bytes = 0

    def mount(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size_bytes},mode=0750", "tmpfs",
                                 str(self.folder)], capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise OSError(f"mount tmpfs on {self.folder}: {result.stderr.strip() or result.returncode}")
        self.mounted = True

    def unmount(self) -> None:
        if not self.mounted:
            return
        result = subprocess.run(["umount", str(self.folder)], capture_output=True, text=True, timeout=30)
        if result.returncode != 0:  # still busy (a process we could not stop): detach it anyway
            subprocess.run(["umount", "-l", str(self.folder)], capture_output=True, timeout=30)
        self.mounted = False

    def free_bytes(self) -> int:
        st = os.statvfs(self.folder)
        return st.f_bavail * st.f_frsize

    def fill(self) -> int:
        """Take every free byte; returns how many were taken."""
        path = self.folder / BALLAST
        taken = 0
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            free = self.free_bytes()
            if free > 0:
                with contextlib.suppress(OSError):
                    os.posix_fallocate(fd, os.fstat(fd).st_size, free)
            block = b"\0" * 65536
            while True:  # whatever fallocate left (rounding): bytes until ENOSPC
                try:
                    os.write(fd, block if self.free_bytes() >= len(block) else b"\0" * 4096)
                except OSError:
                    break
            taken = os.fstat(fd).st_size
        finally:
            os.close(fd)
        self.ballast_bytes = taken
        return taken

    def free(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.folder / BALLAST).unlink()
