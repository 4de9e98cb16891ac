"""Named colours and the random palettes actors draw from, so variety is wide but plausible.

Colours are BGR tuples of ints (OpenCV order).  Scenario files may name a colour from NAMED or give
"#rrggbb".
"""

from __future__ import annotations

import numpy as np

Color = tuple[int, int, int]

NAMED: dict[str, Color] = {
    "black": (25, 25, 25), "white": (235, 235, 235), "grey": (128, 128, 128), "gray": (128, 128, 128),
    "silver": (192, 192, 188), "darkgrey": (70, 70, 70), "red": (40, 40, 200), "darkred": (30, 30, 120),
    "orange": (30, 130, 240), "yellow": (40, 210, 235), "green": (60, 150, 50), "darkgreen": (40, 80, 30),
    "olive": (50, 120, 110), "blue": (180, 90, 30), "lightblue": (230, 180, 120), "navy": (90, 40, 20),
    "teal": (140, 130, 30), "purple": (130, 50, 110), "pink": (180, 150, 240), "brown": (40, 70, 120),
    "beige": (170, 200, 220), "khaki": (110, 160, 170), "wood": (60, 110, 160), "cream": (200, 230, 240),
}

SKIN: list[Color] = [(150, 180, 225), (130, 165, 215), (110, 150, 200), (95, 135, 190), (80, 115, 165),
                     (120, 160, 210), (100, 140, 180)]
HAIR: list[Color] = [(20, 20, 22), (25, 28, 35), (30, 40, 55), (40, 50, 70), (150, 150, 150), (200, 200, 200)]
HAIR_P = [0.42, 0.2, 0.13, 0.08, 0.1, 0.07]
# Clothing: mostly dull and dark, some bright, as on a real street.
TOPS: list[Color] = [
    (30, 30, 30), (235, 235, 235), (90, 40, 20), (128, 128, 128), (60, 60, 60), (40, 40, 200),
    (170, 200, 220), (50, 120, 110), (180, 90, 30), (40, 210, 235), (30, 130, 240), (180, 150, 240),
    (140, 130, 30), (60, 150, 50), (130, 50, 110), (230, 180, 120), (40, 70, 120), (200, 160, 90),
    (30, 30, 120), (110, 160, 170), (80, 80, 140), (160, 120, 60),
]
BOTTOMS: list[Color] = [
    (30, 30, 30), (90, 40, 20), (60, 60, 60), (120, 80, 40), (110, 160, 170), (128, 128, 128),
    (40, 70, 120), (50, 90, 70), (150, 110, 70), (200, 200, 200), (70, 50, 40),
]
SHOES: list[Color] = [(20, 20, 20), (230, 230, 230), (40, 60, 90), (90, 90, 90), (30, 30, 110)]
VEHICLE: list[Color] = [
    (235, 235, 235), (240, 240, 240), (30, 30, 30), (192, 192, 188), (128, 128, 128), (40, 40, 190),
    (150, 80, 30), (90, 40, 20), (40, 200, 230), (60, 110, 60), (70, 70, 70), (170, 200, 220),
]
HULL: list[Color] = [(235, 235, 235), (180, 90, 30), (60, 140, 60), (40, 40, 180), (60, 110, 160),
                     (40, 130, 230), (140, 130, 30), (90, 50, 20), (200, 200, 200), (50, 80, 110)]
BRIGHT: list[Color] = [(40, 40, 220), (30, 140, 250), (40, 215, 240), (60, 170, 60), (200, 110, 30),
                       (150, 60, 160), (160, 160, 240), (235, 235, 235), (30, 90, 200), (120, 200, 60)]


def parse_color(value: str) -> Color:
    """Return BGR for a colour name or '#rrggbb'; raise ValueError with a short reason otherwise."""
    v = value.strip().lower()
    if v in NAMED:
        return NAMED[v]
    if len(v) == 7 and v.startswith("#"):
        try:
            r, g, b = int(v[1:3], 16), int(v[3:5], 16), int(v[5:7], 16)
        except ValueError:
            pass
        else:
            return (b, g, r)
    raise ValueError(f"unknown colour {value!r} (use '#rrggbb' or one of: {', '.join(sorted(NAMED))})")


def pick(rng: np.random.Generator, items: list, p: list[float] | None = None):
    """Pick one item (tuples stay tuples, unlike rng.choice)."""
    return items[int(rng.choice(len(items), p=p))]


def jitter(rng: np.random.Generator, c: Color, amount: int = 18) -> Color:
    """A slightly different shade, so two actors with the 'same' colour are not identical."""
    d = rng.integers(-amount, amount + 1, 3)
    return tuple(int(np.clip(c[i] + d[i], 0, 255)) for i in range(3))  # type: ignore[return-value]


def shade(c: Color, f: float) -> Color:
    """Darker (f < 1) or lighter (f > 1) version of a colour."""
    if f <= 1:
        return (int(c[0] * f), int(c[1] * f), int(c[2] * f))
    g = f - 1
    return (int(c[0] + (255 - c[0]) * g), int(c[1] + (255 - c[1]) * g), int(c[2] + (255 - c[2]) * g))
