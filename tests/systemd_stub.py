"""A stand-in for `systemctl` in the documented-procedure test (a test cannot run systemd).

It does what systemd would do with the units the docs install, and nothing else: it reads the unit
file (from the sandbox's /etc/systemd/system, or the OS package's /lib/systemd/system for mosquitto),
loads its EnvironmentFile, runs ExecStartPre, and starts ExecStart as the unit's User= in the
background, with its output in `{sandbox}/journal/UNIT.log`. Paths in the unit are mapped into the
sandbox with the test's own rules (`EDGE_STUB_RULES`, JSON [[regex, replacement], ...]).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

SANDBOX = Path(os.environ["EDGE_STUB_SANDBOX"])
RULES = [(re.compile(p), r) for p, r in json.loads(os.environ["EDGE_STUB_RULES"])]
PIDS = SANDBOX / "run" / "systemd-stub"
JOURNAL = SANDBOX / "journal"


def rewrite(text: str) -> str:
    for pattern, repl in RULES:
        text = pattern.sub(repl, text)
    return text


def unit_file(name: str) -> tuple[str, str]:
    if not name.endswith(".service"):
        name += ".service"
    base, instance = name, ""
    m = re.match(r"^(.+@)(.+)(\.service)$", name)
    if m:
        base, instance = m.group(1) + m.group(3), m.group(2)
    for folder in (SANDBOX / "etc" / "systemd" / "system", Path("/lib/systemd/system")):
        if (folder / base).is_file():
            text = (folder / base).read_text().replace("%i", instance)
            return name, rewrite(text)
    sys.exit(f"Failed to start {name}: Unit {name} not found.")


def service_section(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]" and "=" in line:
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def environment(svc: dict[str, list[str]]) -> dict[str, str]:
    env = dict(os.environ)
    for spec in svc.get("EnvironmentFile", []):
        optional = spec.startswith("-")
        path = Path(spec.lstrip("-"))
        if not path.exists():
            if optional:
                continue
            sys.exit(f"EnvironmentFile {path} not found")
        for line in path.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                env[key.strip()] = value.strip()
    return env


def stop(name: str) -> None:
    pid_file = PIDS / f"{name}.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    try:
        os.killpg(pid, signal.SIGTERM)
        for _ in range(100):
            os.kill(pid, 0)
            time.sleep(0.1)
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    pid_file.unlink()


def can_run_python(user: str) -> bool:
    """A Python installed under /root cannot be run by a service user; then the unit runs as root."""
    python = os.environ.get("EDGE_STUB_PY", sys.executable)
    return subprocess.run(["runuser", "-u", user, "--", python, "-c", ""], capture_output=True).returncode == 0


def start(unit: str) -> None:
    name, text = unit_file(unit)
    stop(name)
    svc = service_section(text)
    env = environment(svc)
    for pre in svc.get("ExecStartPre", []):
        subprocess.run(shlex.split(pre.lstrip("-")), env=env, check=not pre.startswith("-"))
    argv = shlex.split(svc["ExecStart"][0])
    user = svc.get("User", [None])[0]
    if user and os.geteuid() == 0 and can_run_python(user):
        argv = ["runuser", "-u", user, "--", *argv]
    cwd = svc.get("WorkingDirectory", ["/"])[0]
    PIDS.mkdir(parents=True, exist_ok=True)
    JOURNAL.mkdir(parents=True, exist_ok=True)
    with open(JOURNAL / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    (PIDS / f"{name}.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + 1.5
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if proc.poll() is not None and proc.returncode != 0:
        tail = (JOURNAL / f"{name}.log").read_text(errors="replace")[-1500:]
        sys.exit(f"Job for {name} failed: exit {proc.returncode}; its log ends:\n{tail}")


def reload(unit: str) -> None:
    name, _ = unit_file(unit)
    pid_file = PIDS / f"{name}.pid"
    if pid_file.exists():
        os.kill(int(pid_file.read_text()), signal.SIGHUP)


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--") or a == "--now"]
    if not args:
        return 0
    verb, units = args[0], [a for a in args[1:] if a != "--now"]
    if verb == "daemon-reload":
        return 0
    if verb == "enable":
        for unit in units:
            unit_file(unit)
        if "--now" in args:
            for unit in units:
                start(unit)
        return 0
    if verb in ("start", "restart"):
        for unit in units:
            start(unit)
        return 0
    if verb == "reload":
        for unit in units:
            reload(unit)
        return 0
    if verb == "stop":
        for unit in units:
            stop(unit_file(unit)[0])
        return 0
    sys.exit(f"systemd stand-in: {verb} is not supported")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
