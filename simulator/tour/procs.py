"""The tour's child processes: started in their own sessions, their output logged and read line by line.

Children do not see the terminal's Ctrl-C: the tour stops them itself, nodes first (so they can seal
their evidence and say offline), then the hub's tools, so nothing is left behind.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class Processes:
    """Every process the tour starts, so that all of them can be stopped whatever happens."""

    def __init__(self, logs: Path, env: dict[str, str]):
        self.logs = logs
        self.env = env
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self._lock = threading.Lock()

    def spawn(self, name: str, cmd: list[str], on_line: Callable[[str], None] | None = None) -> subprocess.Popen:
        """Start `cmd`; its stdout and stderr go, line by line, to logs/NAME.log and to `on_line`."""
        self.logs.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                text=True, bufsize=1, cwd=REPO, env=self.env, start_new_session=True)
        with self._lock:
            self.procs.append((name, proc))
        threading.Thread(target=_pump, args=(proc, self.logs / f"{name}.log", on_line), daemon=True,
                         name=f"pump-{name}").start()
        return proc

    def run(self, name: str, cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
        """Run `cmd` to its end (it is stopped with the others on Ctrl-C); output kept in logs/NAME.log."""
        lines: list[str] = []
        proc = self.spawn(name, cmd, lines.append)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stop(proc, 5)
        _wait_pump(proc)
        return subprocess.CompletedProcess(cmd, proc.returncode, "\n".join(lines), "")

    def stop_all(self) -> None:
        with self._lock:
            procs = list(self.procs)
        for _, proc in procs:
            stop(proc, 30)


def stop(proc: subprocess.Popen, timeout: float) -> int | None:
    """SIGTERM, wait, then SIGKILL if it would not go."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


def _pump(proc: subprocess.Popen, log_path: Path, on_line: Callable[[str], None] | None) -> None:
    with open(log_path, "a", encoding="utf-8") as log:
        for line in proc.stdout:
            log.write(line)
            log.flush()
            if on_line is not None:
                try:
                    on_line(line.rstrip("\n"))
                except Exception as exc:  # a display problem must not stop the reading
                    log.write(f"[tour] could not show this line: {exc}\n")
    proc.stdout.close()
    proc.pumped = True  # type: ignore[attr-defined]


def _wait_pump(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    deadline = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if getattr(proc, "pumped", False):
            return
        deadline.wait(0.05)


def query(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows from a product database (SQLite, WAL) that its owner may be writing; [] until it exists."""
    if not db.exists():
        return []
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return []
