"""Small server-rendered SVG charts (no chart library, no script): horizontal bars with labels, and
time bars against a target line."""

from __future__ import annotations

from html import escape

ROW = 22
LABEL_W = 150
BAR_W = 380


def bars(rows: list[tuple[str, float]], *, unit: str = "", maximum: float | None = None, colour: str = "#2b6cb0",
         label: str = "") -> str:
    """One bar per (label, value); value text at the bar's end."""
    if not rows:
        return '<svg class="chart" width="560" height="24"><text x="4" y="16">—</text></svg>'
    top = maximum or max(v for _, v in rows) or 1
    height = ROW * len(rows) + 8
    out = [f'<svg class="chart" role="img" aria-label="{escape(label)}" width="{LABEL_W + BAR_W + 70}" '
           f'height="{height}" viewBox="0 0 {LABEL_W + BAR_W + 70} {height}">']
    for i, (name, value) in enumerate(rows):
        y = 4 + i * ROW
        w = max(1.0, BAR_W * value / top)
        text = f"{value:.0%}" if unit == "%" else f"{value:g}{unit}"
        out.append(f'<text x="{LABEL_W - 6}" y="{y + 14}" text-anchor="end">{escape(name)}</text>'
                   f'<rect class="bar" x="{LABEL_W}" y="{y + 2}" width="{w:.1f}" height="{ROW - 6}" fill="{colour}">'
                   f'<title>{escape(name)}: {text}</title></rect>'
                   f'<text x="{LABEL_W + w + 4:.1f}" y="{y + 14}">{text}</text>')
    out.append("</svg>")
    return "".join(out)


def against_target(rows: list[tuple[str, float | None, float | None, float]]) -> str:
    """(label, p50 s, p90 s, target s): p50 and p90 bars, the target a red line (the 15-minute circle)."""
    top = max([t for *_, t in rows] + [v for _, a, b, _ in rows for v in (a, b) if v is not None]) * 1.1 or 1
    height = ROW * 2 * len(rows) + 10
    out = [f'<svg class="chart" role="img" aria-label="times" width="{LABEL_W + BAR_W + 90}" height="{height}">']
    for i, (name, p50, p90, target) in enumerate(rows):
        y = 4 + i * ROW * 2
        for j, (q, v, colour) in enumerate((("p50", p50, "#2b6cb0"), ("p90", p90, "#90cdf4"))):
            yy = y + j * (ROW - 4)
            if v is not None:
                w = max(1.0, BAR_W * v / top)
                colour = colour if v <= target else "#c53030"
                out.append(f'<rect class="bar" x="{LABEL_W}" y="{yy + 2}" width="{w:.1f}" height="{ROW - 8}" '
                           f'fill="{colour}"/><text x="{LABEL_W + w + 4:.1f}" y="{yy + 13}">{q} {v:.0f} s</text>')
            else:
                out.append(f'<text x="{LABEL_W + 4}" y="{yy + 13}">{q} —</text>')
        x = LABEL_W + BAR_W * target / top
        out.append(f'<text x="{LABEL_W - 6}" y="{y + 20}" text-anchor="end">{escape(name)}</text>'
                   f'<line class="target" x1="{x:.1f}" x2="{x:.1f}" y1="{y}" y2="{y + ROW * 2 - 4}" stroke="#c53030" '
                   f'stroke-width="2" stroke-dasharray="4 2"><title>target {target:g} s</title></line>')
    out.append("</svg>")
    return "".join(out)
