"""The fault schedule of `edge-sim fleet --faults SPEC`.

    SPEC := "all" | "none" | ITEM ("," ITEM)*
    ITEM := KIND [":" NODE] ["@" START] ["+" LENGTH]

KIND is one of broker_restart, broker_kill, hub_restart (no NODE), partition, stall, kill, disk_full,
camera_loss (each needs a NODE, e.g. node2).  broker_kill is a kill -9 of mosquitto (what it had
acknowledged since its last autosave is lost; the hub's receipts make the nodes send it again);
hub_restart a kill -9 of `edge-hub listen` and `edge-hub receive`, started again after LENGTH.  START and LENGTH are seconds from the start of the run (decimals allowed); LENGTH is
how long the fault lasts: the broker is down, the node cut off, powered off, its disk full, its camera
dark.  Without @START a fault starts a quarter into the run; without +LENGTH it lasts DEFAULT_LENGTH_S.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

KINDS = ("broker_restart", "broker_kill", "hub_restart", "partition", "stall", "kill", "disk_full", "camera_loss")
HUB_KINDS = KINDS[:3]  # faults of the hub side: no NODE
NODE_KINDS = KINDS[3:]
DEFAULT_LENGTH_S = {"broker_restart": 3.0, "broker_kill": 3.0, "hub_restart": 5.0, "partition": 15.0,
                    "stall": 15.0, "kill": 3.0, "disk_full": 30.0, "camera_loss": 10.0}
# A fault must end this long before the run does, so that recovery can be seen.
SETTLE_S = 10.0
# The template of `--faults all`: one round of every fault, offsets and lengths in percent of the round.
# Roles: K the kill target, C the camera node, D the disk node, P the partitioned node, S the stalled one.
ROUND = [("camera_loss", "C", 5, 12), ("partition", "P", 12, 12), ("disk_full", "D", 22, 30),
         ("broker_restart", None, 40, 3), ("kill", "K", 50, 3), ("stall", "S", 58, 12),
         ("broker_kill", None, 75, 3), ("hub_restart", None, 82, 5)]
ROUND_S = 100.0
MIN_ALL_S = 60.0

_ITEM = re.compile(r"(?P<kind>[a-z_]+)(?::(?P<node>[A-Za-z0-9_-]+))?(?:@(?P<start>[0-9.]+))?(?:\+(?P<length>[0-9.]+))?")


class SpecError(ValueError):
    """A fault schedule that cannot be run; str() is one line."""


@dataclass
class Fault:
    kind: str
    node: str | None
    start: float
    length: float
    text: str = ""
    # Filled in while the run goes: what was done and seen.
    record: dict = field(default_factory=dict)

    @property
    def end(self) -> float:
        return self.start + self.length

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.node}" if self.node else self.kind


def _number(item: str, what: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SpecError(f"--faults: {item!r}: {what} {text!r} is not a number of seconds") from None
    return value


def parse_spec(text: str, nodes: list[str], duration: float) -> list[Fault]:
    """The faults of SPEC for these node ids and run length, sorted by start; SpecError on any problem."""
    text = text.strip()
    if text in ("all", "default"):
        return default_schedule(nodes, duration)
    if text in ("none", ""):
        return []
    faults: list[Fault] = []
    for raw in text.split(","):
        item = raw.strip()
        m = _ITEM.fullmatch(item)
        if not item or m is None:
            raise SpecError(f"--faults: {item!r} is not KIND[:NODE][@START][+LENGTH] "
                            f"(e.g. partition:node2@30+15)")
        kind, node = m["kind"], m["node"]
        if kind not in KINDS:
            raise SpecError(f"--faults: {item!r}: unknown fault {kind!r} (known: {', '.join(KINDS)})")
        if kind in NODE_KINDS and node is None:
            raise SpecError(f"--faults: {item!r}: {kind} needs a node, e.g. {kind}:{nodes[0]}")
        if kind in HUB_KINDS and node is not None:
            raise SpecError(f"--faults: {item!r}: {kind} takes no node")
        if node is not None and node not in nodes:
            raise SpecError(f"--faults: {item!r}: no node {node!r} in this fleet ({', '.join(nodes)})")
        start = _number(item, "START", m["start"]) if m["start"] else round(duration / 4, 1)
        length = _number(item, "LENGTH", m["length"]) if m["length"] else DEFAULT_LENGTH_S[kind]
        if length <= 0:
            raise SpecError(f"--faults: {item!r}: LENGTH must be > 0")
        if start + length > duration - SETTLE_S:
            raise SpecError(f"--faults: {item!r}: ends at {start + length:g} s, but faults must end "
                            f"{SETTLE_S:g} s before the run does (--duration {duration:g})")
        faults.append(Fault(kind, node, start, length, item))
    faults.sort(key=lambda f: f.start)
    _check_overlaps(faults)
    return faults


def _check_overlaps(faults: list[Fault]) -> None:
    for i, a in enumerate(faults):
        for b in faults[i + 1:]:
            broker = {a.kind, b.kind} <= {"broker_restart", "broker_kill"}  # one broker: one at a time
            if a.node == b.node and b.start < a.end and (a.kind == b.kind or broker
                                                         or {a.kind, b.kind} <= {"partition", "stall"}):
                raise SpecError(f"--faults: {b.text!r} overlaps {a.text!r} on the same "
                                f"{'node' if a.node else 'broker'}")


def roles(nodes: list[str], round_no: int = 0) -> dict[str, str]:
    """Which node plays which part in round `round_no` of `all` (rotating through the fleet)."""
    n = len(nodes)

    def pick(i: int) -> str:
        return nodes[(i + round_no) % n]

    camera = nodes[1] if n > 1 else nodes[0]  # the market node on an IP camera
    return {"K": pick(0), "C": camera, "D": nodes[2] if n > 2 else nodes[0], "P": pick(2 if n > 2 else 0),
            "S": pick(1 if n > 1 else 0)}


def default_schedule(nodes: list[str], duration: float) -> list[Fault]:
    """`--faults all`: every kind of fault, in rounds of about ROUND_S seconds over the whole run."""
    if duration < MIN_ALL_S:
        raise SpecError(f"--faults all needs --duration {MIN_ALL_S:g} or more (got {duration:g})")
    rounds = max(1, int(duration // ROUND_S))
    span = duration / rounds
    scale = span / ROUND_S
    faults = []
    for r in range(rounds):
        who = roles(nodes, r)
        for kind, role, offset, length in ROUND:
            node = who[role] if role else None
            start = round(r * span + offset * scale, 1)
            faults.append(Fault(kind, node, start, round(length * scale, 1),
                                f"{kind}{':' + node if node else ''}@{start:g}+{round(length * scale, 1):g}"))
    faults.sort(key=lambda f: f.start)
    _check_overlaps(faults)
    return faults


def spec_text(faults: list[Fault]) -> str:
    return ",".join(f.text for f in faults) or "none"
