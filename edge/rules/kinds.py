"""Rule kinds: which tracked objects in a zone make up a violation, and what it is about.

- fishing: a person in the zone with fishing gear (a rod) at hand.  A rod in the zone with no
  person found near it still counts (an unattended rod on a stand, or the angler hidden by reeds);
  a person without gear never does (walkers, people looking at the water), nor does gear carried by
  someone outside the zone (an angler walking past on the path).
  With basis "loitering" (models with no rod class): a person standing still in the zone; the
  dwell counts from when they stopped.  Weaker evidence, and the messages say so (`basis`).
- boat_intrusion: a boat in the zone (restricted water), moving or not.
- stall: a stall or cart that stands still in the zone; someone pausing is excluded by the dwell.
- parking: a vehicle that stands still in the zone.
- intrusion: any of the rule's classes in the zone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..track import Track

Box = tuple[float, float, float, float]


@dataclass
class Subject:
    track: Track  # what the violation is about (the angler, the stall, the boat)
    objects: list[Track]  # everything involved (the angler and the rod)


def _expanded(box: Box, fx: float, fy_top: float) -> Box:
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    return x1 - fx * w, y1 - fy_top * h, x2 + fx * w, y2


def _overlap(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(0.0, w) * max(0.0, h)


def holder_reach(box: Box) -> Box:
    """Where the holder of a piece of gear could stand: its box stretched down by half its length.

    A rod is held at hand height and reaches out over the water, so its own box can lie entirely
    above a shore zone while its angler (hidden by reeds or a tree) stands inside it.  An angler is
    roughly half a rod's length tall and the hands are about halfway up, so the feet are within
    half a rod length below the lower end of the rod's box.
    """
    x1, y1, x2, y2 = box
    length = ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5
    return x1, y1, x2, y2 + 0.5 * length


def holds(person: Track, gear: Track) -> bool:
    """Gear is at hand when its box reaches into the space around the person (arms' reach)."""
    return _overlap(_expanded(person.box, 0.6, 0.3), gear.box) > 0


def fishing(classes: tuple[str, ...], inside: Callable[[Track, bool], bool], tracks: list[Track]) -> list[Subject]:
    """Anglers with their gear, and gear alone whose holder could stand in the zone."""
    person_cls, gear_cls = classes[0], set(classes[1:])
    everyone = [t for t in tracks if t.cls == person_cls]
    people = [t for t in everyone if inside(t, False)]
    gear = [t for t in tracks if t.cls in gear_cls]
    held: dict[int, list[Track]] = {}
    loose = []
    for item in gear:
        if any(holds(p, item) for p in everyone if p not in people):
            continue  # carried by someone outside the zone: passing by with a rod is not fishing
        near = [p for p in people if holds(p, item)]
        if near:
            gx, gy = (item.box[0] + item.box[2]) / 2, item.box[3]
            owner = min(near, key=lambda p: abs((p.box[0] + p.box[2]) / 2 - gx) + abs(p.box[1] - gy))
            held.setdefault(owner.id, []).append(item)
        elif inside(item, True):
            loose.append(item)
    subjects = [Subject(p, [p, *held[p.id]]) for p in people if p.id in held]
    subjects += [Subject(item, [item]) for item in loose]
    return subjects


def present(classes: tuple[str, ...], inside: Callable[[Track, bool], bool], tracks: list[Track],
            stationary: bool = False) -> list[Subject]:
    return [Subject(t, [t]) for t in tracks
            if t.cls in classes and inside(t, False) and (t.stationary or not stationary)]


def subjects(kind: str, classes: tuple[str, ...], inside: Callable[[Track, bool], bool],
             tracks: list[Track], basis: str = "rod") -> list[Subject]:
    """`inside(track, as_gear)` says whether a track is in the zone (after inertia): by its anchor,
    or for gear by where its holder could stand (holder_reach)."""
    if kind == "fishing" and basis == "loitering":
        return present(classes[:1], inside, tracks, stationary=True)
    if kind == "fishing":
        return fishing(classes, inside, tracks)
    return present(classes, inside, tracks, stationary=kind in ("stall", "parking"))
