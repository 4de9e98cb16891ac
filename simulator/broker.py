"""A local mosquitto for the demo, the fleet simulator, the benchmarks and the tests.

It runs from the OS package (make installs it) on a free port, with persistence in its own folder;
TLS, passwords and an ACL are optional.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        raise RuntimeError(f"{name} is not installed (apt-get install mosquitto, or run make)")
    return path


class Broker:
    def __init__(self, folder: Path, *, port: int | None = None, tls: dict | None = None,
                 users: dict[str, str] | None = None, acl: str | None = None, persistence: bool = True):
        """`tls`: {"cafile", "certfile", "keyfile"} paths; clients then need certificates.
        `persistence=False`: sessions and queues live in memory only (a kill -9 loses them)."""
        self.binary = find_tool("mosquitto")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        keep = ["persistence true", f"persistence_location {self.folder}/", "autosave_interval 1",
                "autosave_on_changes false"] if persistence else ["persistence false"]
        lines = [f"listener {self.port} 127.0.0.1", *keep, f"log_dest file {self.folder}/mosquitto.log",
                 "log_type error", "log_type warning", "log_type notice", "max_queued_messages 0",
                 "max_inflight_messages 0", "set_tcp_nodelay true"]
        if os.geteuid() == 0:
            lines.append("user root")  # as root mosquitto would switch to its own user and lose our folder
        if tls is not None:
            lines += [f"cafile {tls['cafile']}", f"certfile {tls['certfile']}", f"keyfile {tls['keyfile']}",
                      "require_certificate true", "tls_version tlsv1.2"]
        if users:
            passwd = self.folder / "passwd"
            passwd.write_text("")
            for user, password in users.items():
                subprocess.run([find_tool("mosquitto_passwd"), "-b", str(passwd), user, password], check=True,
                               capture_output=True)
            lines += [f"password_file {passwd}", "allow_anonymous false"]
        else:
            lines.append("allow_anonymous true")
        if acl is not None:
            (self.folder / "acl").write_text(acl)
            lines.append(f"acl_file {self.folder / 'acl'}")
        self.config = self.folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Broker:
        self.proc = subprocess.Popen([self.binary, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            if self.proc.poll() is not None:
                log = self.folder / "mosquitto.log"
                raise RuntimeError(f"mosquitto exited: {log.read_text()[-2000:] if log.exists() else ''}")
            time.sleep(0.05)
        raise TimeoutError("mosquitto did not start")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()
