"""Inline SVG charts drawn in plain Python, so the report is one file that opens offline (no JS, no CDN).

Each function takes plain numbers and returns an `<svg>` string with a title, labelled axes, a legend
and a `<title>` tooltip on every mark (the exact value, so a reader can hover instead of guessing).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"]
WIDTH, HEIGHT = 760, 320
LEFT, RIGHT, TOP, BOTTOM = 78, 170, 42, 58

Fmt = Callable[[float], str]


def money(v: float) -> str:
    if v == 0:
        return "$0"
    return f"${v:,.2f}" if abs(v) >= 1 else f"${v:.3g}"


def ms(v: float) -> str:
    return f"{v:,.0f} ms"


def pct(v: float) -> str:
    return f"{v:.0%}" if v in (0, 1) or abs(v * 100 - round(v * 100)) < 1e-9 else f"{v:.1%}"


def plain(v: float) -> str:
    return f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def nice_ticks(high: float, low: float = 0.0, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 2.5 or 5 times a power of ten apart)."""
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks = []
    v = start
    while v < high + step * 0.999:
        ticks.append(round(v, 12))
        v += step
    return ticks


def _svg(title: str, body: list[str], chart_id: str, height: int = HEIGHT) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
            f'height="{height}" role="img" aria-labelledby="{chart_id}-t" data-chart="{chart_id}">'
            f'<title id="{chart_id}-t">{escape(title)}</title>'
            f'<text x="{WIDTH / 2}" y="22" class="chart-title" text-anchor="middle">{escape(title)}</text>'
            + "".join(body) + "</svg>")


def _axes(x_title: str, y_title: str, ticks: list[float], y_of: Callable[[float], float], fmt: Fmt,
          height: int = HEIGHT) -> list[str]:
    plot_right = WIDTH - RIGHT
    out = []
    for t in ticks:
        y = y_of(t)
        out.append(f'<line x1="{LEFT}" x2="{plot_right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{escape(fmt(t))}</text>')
    out.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{height - BOTTOM}" class="axis"/>'
               f'<line x1="{LEFT}" x2="{plot_right}" y1="{height - BOTTOM}" y2="{height - BOTTOM}" class="axis"/>')
    out.append(f'<text x="{(LEFT + plot_right) / 2}" y="{height - 10}" text-anchor="middle" class="axis-title">'
               f'{escape(x_title)}</text>')
    mid = (TOP + height - BOTTOM) / 2
    out.append(f'<text x="16" y="{mid}" transform="rotate(-90 16 {mid})" text-anchor="middle" class="axis-title">'
               f'{escape(y_title)}</text>')
    return out


def _x_labels(labels: Sequence[str], x_of: Callable[[int], float], height: int = HEIGHT) -> list[str]:
    every = max(1, math.ceil(len(labels) / 10))  # at most ~10 labels so they never overlap
    return [f'<text x="{x_of(i):.1f}" y="{height - BOTTOM + 16}" text-anchor="middle" class="tick">'
            f'{escape(label)}</text>' for i, label in enumerate(labels) if i % every == 0]


def _legend(names: Sequence[str], extra: Sequence[tuple[str, str]] = ()) -> list[str]:
    out = []
    x = WIDTH - RIGHT + 14
    for i, name in enumerate(names):
        y = TOP + 4 + i * 18
        out.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{PALETTE[i % len(PALETTE)]}"/>'
                   f'<text x="{x + 18}" y="{y + 10}" class="legend">{escape(name)}</text>')
    for j, (name, css) in enumerate(extra):
        y = TOP + 4 + (len(names) + j) * 18 + 6
        out.append(f'<line x1="{x}" x2="{x + 12}" y1="{y}" y2="{y}" class="{css}"/>'
                   f'<text x="{x + 18}" y="{y + 4}" class="legend">{escape(name)}</text>')
    return out


def empty(title: str, chart_id: str, why: str) -> str:
    """A placeholder with the chart's title that says why there is nothing to draw."""
    return _svg(title, [f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" class="empty">'
                        f'{escape(why)}</text>'], chart_id)


def stacked_bars(title: str, chart_id: str, categories: Sequence[str], series: dict[str, Sequence[float]],
                 x_title: str, y_title: str, fmt: Fmt) -> str:
    """Vertical bars per category, stacked by series (e.g. cost per day, stacked by model)."""
    if not categories:
        return empty(title, chart_id, "no data")
    totals = [sum(s[i] for s in series.values()) for i in range(len(categories))]
    ticks = nice_ticks(max(totals) or 1)
    top = ticks[-1]
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - RIGHT - LEFT) / len(categories)

    def y_of(v: float) -> float:
        return HEIGHT - BOTTOM - v / top * plot_h

    body = _axes(x_title, y_title, ticks, y_of, fmt)
    for i, cat in enumerate(categories):
        base = 0.0
        for j, (name, values) in enumerate(series.items()):
            v = values[i]
            if v <= 0:
                continue
            y0, y1 = y_of(base), y_of(base + v)
            body.append(f'<rect x="{LEFT + i * slot + slot * 0.15:.1f}" y="{y1:.1f}" width="{slot * 0.7:.1f}" '
                        f'height="{max(y0 - y1, 0.5):.1f}" fill="{PALETTE[j % len(PALETTE)]}" class="mark">'
                        f'<title>{escape(cat)} {escape(name)}: {escape(fmt(v))}</title></rect>')
            base += v
        body.append(f'<text x="{LEFT + (i + 0.5) * slot:.1f}" y="{y_of(totals[i]) - 4:.1f}" text-anchor="middle" '
                    f'class="value">{escape(fmt(totals[i]))}</text>')
    body += _x_labels(categories, lambda i: LEFT + (i + 0.5) * slot)
    body += _legend(list(series))
    return _svg(title, body, chart_id)


def histogram(title: str, chart_id: str, bins: Sequence[tuple[str, int]], x_title: str, y_title: str,
              highlight_from: int | None = None, highlight_label: str = "") -> str:
    """Bars of counts per labelled bin; bins from `highlight_from` on are drawn in the alert colour."""
    if not bins or not any(n for _, n in bins):
        return empty(title, chart_id, "no data")
    ticks = nice_ticks(max(n for _, n in bins))
    top = ticks[-1]
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - RIGHT - LEFT) / len(bins)

    def y_of(v: float) -> float:
        return HEIGHT - BOTTOM - v / top * plot_h

    body = _axes(x_title, y_title, ticks, y_of, plain)
    for i, (label, n) in enumerate(bins):
        hot = highlight_from is not None and i >= highlight_from
        body.append(f'<rect x="{LEFT + i * slot + 1:.1f}" y="{y_of(n):.1f}" width="{slot - 2:.1f}" '
                    f'height="{HEIGHT - BOTTOM - y_of(n):.1f}" fill="{PALETTE[3] if hot else PALETTE[0]}" '
                    f'class="mark"><title>{escape(label)}: {n:,} sessions</title></rect>')
        if n:
            body.append(f'<text x="{LEFT + (i + 0.5) * slot:.1f}" y="{y_of(n) - 4:.1f}" text-anchor="middle" '
                        f'class="value">{n:,}</text>')
    body += _x_labels([b for b, _ in bins], lambda i: LEFT + (i + 0.5) * slot)
    names = ["within budget"] + ([highlight_label] if highlight_from is not None else [])
    body += [f'<rect x="{WIDTH - RIGHT + 14}" y="{TOP + 4 + k * 18}" width="12" height="12" fill="{c}"/>'
             f'<text x="{WIDTH - RIGHT + 32}" y="{TOP + 14 + k * 18}" class="legend">{escape(n)}</text>'
             for k, (n, c) in enumerate(zip(names, [PALETTE[0], PALETTE[3]], strict=False))]
    return _svg(title, body, chart_id)


def lines(title: str, chart_id: str, x_labels: Sequence[str], series: dict[str, Sequence[float | None]],
          x_title: str, y_title: str, fmt: Fmt, y_max: float | None = None,
          reference: tuple[float, str] | None = None) -> str:
    """One line per series over shared x labels (dates); an optional dashed reference line (an SLO)."""
    values = [v for s in series.values() for v in s if v is not None]
    if not x_labels or not values:
        return empty(title, chart_id, "no data")
    high = max(values + ([reference[0]] if reference else []))
    ticks = nice_ticks(y_max if y_max is not None else high * 1.05)
    top = ticks[-1]
    plot_h = HEIGHT - TOP - BOTTOM
    span = (WIDTH - RIGHT - LEFT - 20) / max(len(x_labels) - 1, 1)

    def x_of(i: int) -> float:
        return LEFT + 10 + i * span

    def y_of(v: float) -> float:
        return HEIGHT - BOTTOM - v / top * plot_h

    body = _axes(x_title, y_title, ticks, y_of, fmt)
    extra = []
    if reference:
        y = y_of(reference[0])
        body.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="reference">'
                    f'<title>{escape(reference[1])}: {escape(fmt(reference[0]))}</title></line>')
        extra.append((reference[1], "reference"))
    for j, (name, ys) in enumerate(series.items()):
        color = PALETTE[j % len(PALETTE)]
        points = [(x_of(i), y_of(v), i, v) for i, v in enumerate(ys) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{'M' if k == 0 else 'L'}{x:.1f},{y:.1f}" for k, (x, y, _, _) in enumerate(points))
            body.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2" class="mark"/>')
        body += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}" class="mark">'
                 f'<title>{escape(name)} {escape(x_labels[i])}: {escape(fmt(v))}</title></circle>'
                 for x, y, i, v in points]
    body += _x_labels(x_labels, x_of)
    body += _legend(list(series), extra)
    return _svg(title, body, chart_id)


def share_bars(title: str, chart_id: str, rows: Sequence[str], series: dict[str, Sequence[float]],
               x_title: str) -> str:
    """Horizontal 100% bars: per row (a feature), the share of each series (a routing strategy)."""
    if not rows:
        return empty(title, chart_id, "no data")
    height = TOP + BOTTOM + 34 * len(rows)
    left = 130
    plot_w = WIDTH - RIGHT - left
    body = []
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        x = left + t * plot_w
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{height - BOTTOM}" class="grid"/>'
                    f'<text x="{x:.1f}" y="{height - BOTTOM + 16}" text-anchor="middle" class="tick">{t:.0%}</text>')
    body.append(f'<text x="{left + plot_w / 2}" y="{height - 10}" text-anchor="middle" class="axis-title">'
                f'{escape(x_title)}</text>')
    for i, row in enumerate(rows):
        y = TOP + 6 + i * 34
        body.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end" class="tick">{escape(row)}</text>')
        start = 0.0
        for j, (name, shares) in enumerate(series.items()):
            share = shares[i]
            if share <= 0:
                continue
            body.append(f'<rect x="{left + start * plot_w:.1f}" y="{y}" width="{share * plot_w:.1f}" height="24" '
                        f'fill="{PALETTE[j % len(PALETTE)]}" class="mark"><title>{escape(row)} {escape(name)}: '
                        f'{share:.1%}</title></rect>')
            if share >= 0.06:
                body.append(f'<text x="{left + (start + share / 2) * plot_w:.1f}" y="{y + 16}" text-anchor="middle" '
                            f'class="inbar">{share:.0%}</text>')
            start += share
    body += _legend(list(series))
    return _svg(title, body, chart_id, height)
