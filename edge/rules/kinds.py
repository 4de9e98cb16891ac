"""Rule kinds: which tracked objects in a zone make up a violation, and what it is about.

- fishing: a person in (or wading at) the zone with fishing gear (a rod) at hand, the gear's holder
  being the person whose reach best explains it.  A rod in the zone with no person found near it
  still counts (an unattended rod on a stand, or the angler hidden by reeds); a person without gear
  never does (walkers, people looking at the water), nor does gear held by someone outside the zone
  (an angler walking past on the path).
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


def within_reach(a: Box, b: Box) -> bool:
    """Either box reaches into the arm's-reach space around the other."""
    return _overlap(_expanded(a, 0.6, 0.3), b) > 0 or _overlap(_expanded(b, 0.6, 0.3), a) > 0


WADING_REACH = 0.5  # hidden legs, in visible heights (up to ~0.55 m of water for an adult)


def feet_reach(box: Box) -> Box:
    """Where a person whose feet are hidden (wading, behind reeds) could stand: half their visible
    height further down.  Knee-deep water (0.5 m) hides 0.5 m of a 1.7 m angler, 0.42 of the 1.2 m
    that show; a detector boxes what shows, so a quarter left a wader at the bank's edge outside
    the shore band (reservoir_day_wading_angler)."""
    x1, y1, x2, y2 = box
    return x1, y1, x2, y2 + WADING_REACH * (y2 - y1)


def reach_gap(person: Track, gear: Track) -> float | None:
    """How far the gear is from the person's hands, in person heights; None when out of arm's reach.

    The hands are about halfway up a standing figure, so the holder of a rod is the one whose
    hands are nearest to its box, not whoever's box happens to touch it (a friend on the path
    behind the angler, the crew of a boat under the rod)."""
    if not holds(person, gear):
        return None
    x1, y1, x2, y2 = person.box
    hx, hy = (x1 + x2) / 2, y1 + 0.45 * (y2 - y1)
    g = gear.box
    dx = max(g[0] - hx, 0.0, hx - g[2])
    dy = max(g[1] - hy, 0.0, hy - g[3])
    return (dx * dx + dy * dy) ** 0.5 / max(y2 - y1, 1e-9)


STICKY_GAP = 0.35  # person heights: a rod stays with its holder unless another is this much nearer


def holder(gear: Track, people: list[Track], memory: dict[int, int] | None = None) -> Track | None:
    """The person whose reach best explains the gear; the previous holder keeps it unless someone
    else is clearly nearer (a rod stays with its angler across frames)."""
    gaps = [(g, p) for p in people if (g := reach_gap(p, gear)) is not None]
    if not gaps:
        return None
    best_gap, best = min(gaps, key=lambda gp: gp[0])
    if memory is not None:
        previous = next(((g, p) for g, p in gaps if p.id == memory.get(gear.id)), None)
        if previous is not None and previous[0] <= best_gap + STICKY_GAP:
            best = previous[1]
        memory[gear.id] = best.id
    return best


def _centre_gap(a: Box, b: Box) -> float:
    return ((a[0] + a[2] - b[0] - b[2]) ** 2 + (a[1] + a[3] - b[1] - b[3]) ** 2) ** 0.5 / 2


def fishing(classes: tuple[str, ...], inside: Callable[[Track, bool], bool], tracks: list[Track],
            memory: dict[int, int] | None = None) -> list[Subject]:
    """Anglers with their gear, and gear alone whose holder could stand in the zone.

    Each piece of gear goes to the one person whose reach best explains it (`holder`): someone in
    or at the zone (feet hidden by water or reeds count) makes it fishing there; someone outside it
    makes it not (an angler walking past on the path).  Gear nobody holds is fishing when its holder
    could stand in the zone, and joins the nearest angler in the zone within a rod's length of it
    (a rod on a stand beside its angler is one violation, not two).  `memory`: gear id -> holder id,
    kept by the caller between frames."""
    person_cls, gear_cls = classes[0], set(classes[1:])
    everyone = [t for t in tracks if t.cls == person_cls]
    people = [t for t in everyone if inside(t, False) or inside(t, True)]
    gear = [t for t in tracks if t.cls in gear_cls]
    held: dict[int, list[Track]] = {}
    loose = []
    for item in gear:
        owner = holder(item, everyone, memory)
        if owner is not None:
            if owner in people:
                held.setdefault(owner.id, []).append(item)
            continue  # carried by someone outside the zone: passing by with a rod is not fishing
        if not inside(item, True):
            continue
        length = ((item.box[2] - item.box[0]) ** 2 + (item.box[3] - item.box[1]) ** 2) ** 0.5
        near = [p for p in people if _centre_gap(p.box, item.box) <= length + (p.box[3] - p.box[1])]
        if near:
            owner = min(near, key=lambda p: _centre_gap(p.box, item.box))
            held.setdefault(owner.id, []).append(item)
        else:
            loose.append(item)
    subjects = [Subject(p, [p, *held[p.id]]) for p in people if p.id in held]
    subjects += [Subject(item, [item]) for item in loose]
    return subjects


def present(classes: tuple[str, ...], inside: Callable[[Track, bool], bool], tracks: list[Track],
            stationary: bool = False) -> list[Subject]:
    return [Subject(t, [t]) for t in tracks
            if t.cls in classes and inside(t, False) and (t.stationary or not stationary)]


def subjects(kind: str, classes: tuple[str, ...], inside: Callable[[Track, bool], bool],
             tracks: list[Track], memory: dict | None = None, basis: str = "rod") -> list[Subject]:
    """`inside(track, as_gear)` says whether a track is in the zone (after inertia): by its anchor,
    or with `as_gear` by where it or its holder could stand (holder_reach for gear, feet_reach for
    people).  `memory`: per-rule state the kind keeps between frames (who holds which rod)."""
    if kind == "fishing" and basis == "loitering":
        return present(classes[:1], inside, tracks, stationary=True)
    if kind == "fishing":
        return fishing(classes, inside, tracks, memory)
    return present(classes, inside, tracks, stationary=kind in ("stall", "parking"))
