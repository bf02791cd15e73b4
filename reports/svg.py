"""Charts as inline SVG, drawn here from numbers already aggregated (no JavaScript, no fonts to fetch).

Every chart is a `<figure class="plot" id=...>` holding one `<svg>` with its title, axes (labels with
units), a legend and, on each point or bar, a `<title>` the browser shows on hover.  The SVG is sized by
its viewBox, so it scales to the page and prints as vectors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from reports.page import date_text, e

# Okabe-Ito: tells its colours apart for the colour-blind, and on a grey-scale print by lightness.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
GREY = "#6b7280"

Fmt = Callable[[float], str]

W, H = 880, 300  # the default viewBox
LEFT, RIGHT, TOP, BOTTOM = 72, 40, 40, 58


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _e(text: object) -> str:
    return e(text)


def number(v: float) -> str:
    """A tick or tooltip number: thousands separated, at most 3 significant decimals."""
    if v == 0:
        return "0"
    if abs(v) >= 100 or float(v).is_integer():
        return f"{v:,.0f}"
    if abs(v) >= 1:
        return f"{v:,.2f}".rstrip("0").rstrip(".")
    return f"{v:.3g}"


def nice_ticks(top: float, count: int = 5, bottom: float = 0.0) -> list[float]:
    """From at most `bottom` (0, or below it) to at least `top`, through 0, in steps of 1, 2 or 5
    times a power of ten."""
    bottom = min(bottom, 0.0) if math.isfinite(bottom) else 0.0
    top = max(top, 0.0) if math.isfinite(top) else 0.0
    if top - bottom <= 0:
        return [0.0, 1.0]
    raw = (top - bottom) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    low = math.floor(bottom / step + 1e-9)
    n = math.ceil(top / step - 1e-9)
    return [i * step for i in range(low, n + 1)]


def time_ticks(t0: datetime, t1: datetime) -> tuple[list[datetime], str]:
    """Ticks on round hours or days for a span, at most 11, and the strftime format to label them.

    Past ten weeks, a tick every so many weeks, labelled with its year: the step stopped at a week,
    and a span of years drew a tick a week (a usage file with a record dated 1970, 2,900 ticks;
    thousands of years, the page was megabytes of ticks), labelled without the year."""
    span = (t1 - t0).total_seconds()
    hours = (1, 2, 3, 6, 12, 24, 48, 72, 168)
    step_h = next((h for h in hours if span / (h * 3600) <= 10), 168 * math.ceil(span / (168 * 3600 * 10)))
    fmt = "%d %b %H:%M" if step_h < 24 else "%d %b" if step_h <= 168 else "%d %b %Y"
    if span <= 3 * 3600:
        step = timedelta(minutes=next((m for m in (5, 10, 15, 30, 60) if span / (m * 60) <= 10), 60))
        fmt = "%H:%M"
    else:
        step = timedelta(hours=step_h)
    base = t0.replace(minute=0, second=0, microsecond=0)
    if step >= timedelta(days=1):
        base = base.replace(hour=0)
    ticks = []
    t = base
    while t <= t1:
        if t >= t0:
            ticks.append(t)
        try:
            t += step
        except OverflowError:  # (past the year 9999)
            break
    return ticks, fmt


_LAST = datetime(9999, 12, 31, tzinfo=UTC).timestamp()


def _utc(t: float) -> datetime:
    """A POSIX time as a UTC datetime, within the years 1 to 9999 (an axis ending a bucket past a
    record of 31 Dec 9999 ends there)."""
    return datetime.fromtimestamp(min(t, _LAST), UTC)


@dataclass
class Series:
    name: str
    points: list[tuple[float, float]]  # (x, y); x is a POSIX time on time axes
    colour: str | None = None
    dashed: bool = False


@dataclass
class Band:
    """A shaded span of the x axis (an outage), labelled."""

    x0: float
    x1: float
    label: str


@dataclass
class Frame:
    """The plotting area of one chart and its scales."""

    x0: float
    x1: float
    y1: float
    width: int = W
    height: int = H
    left: int = LEFT
    parts: list[str] = field(default_factory=list)
    y0: float = 0.0  # (below 0 when a value is: a record's negative byte count, read)

    @property
    def pw(self) -> float:
        return self.width - self.left - RIGHT

    @property
    def ph(self) -> float:
        return self.height - TOP - BOTTOM

    def x(self, v: float) -> float:
        span = self.x1 - self.x0 or 1.0
        return self.left + (v - self.x0) / span * self.pw

    def y(self, v: float) -> float:
        return TOP + self.ph - ((v - self.y0) / ((self.y1 - self.y0) or 1.0)) * self.ph


def _svg(fig_id: str, title: str, width: int, height: int, body: list[str], caption: str | None) -> str:
    cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    return (
        f'<figure class="plot" id="{_e(fig_id)}">'
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{_e(title)}" preserveAspectRatio="xMidYMid meet">'
        f'<text class="ptitle" x="{width / 2:.0f}" y="20" text-anchor="middle">{_e(title)}</text>'
        + "".join(body)
        + f"</svg>{cap}</figure>"
    )


def _y_axis(f: Frame, label: str, fmt: Fmt) -> list[str]:
    out = []
    ticks = nice_ticks(f.y1, bottom=f.y0)
    f.y0, f.y1 = ticks[0], ticks[-1]
    for v in ticks:
        y = f.y(v)
        out.append(f'<line class="grid" x1="{f.left}" x2="{f.left + f.pw:.1f}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(
            f'<text class="tick" x="{f.left - 6}" y="{y + 4:.1f}" text-anchor="end">{_e(fmt(v))}</text>'
        )
    cy = TOP + f.ph / 2
    out.append(
        f'<text class="axis" transform="translate(14 {cy:.0f}) rotate(-90)" text-anchor="middle">{_e(label)}</text>'
    )
    return out


def _x_time_axis(f: Frame, label: str) -> list[str]:
    ticks, fmt = time_ticks(_utc(f.x0), _utc(f.x1))
    out = [
        f'<line class="axisline" x1="{f.left}" x2="{f.left + f.pw:.1f}" y1="{TOP + f.ph:.1f}" y2="{TOP + f.ph:.1f}"/>'
    ]
    for t in ticks:
        x = f.x(t.timestamp())
        out.append(
            f'<line class="axisline" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP + f.ph:.1f}" y2="{TOP + f.ph + 4:.1f}"/>'
        )
        out.append(
            f'<text class="tick" x="{x:.1f}" y="{TOP + f.ph + 16:.1f}" text-anchor="middle">{_e(date_text(t, fmt))}</text>'
        )
    out.append(
        f'<text class="axis" x="{f.left + f.pw / 2:.0f}" y="{f.height - 22}" text-anchor="middle">{_e(label)}</text>'
    )
    return out


def _legend(f: Frame, names: Sequence[tuple[str, str, bool]]) -> list[str]:
    """One row under the x axis: a swatch and a name per series (name, colour, dashed)."""
    out = []
    x = f.left
    y = f.height - 8
    for name, col, dashed in names:
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        out.append(
            f'<g class="legend"><line x1="{x}" x2="{x + 18}" y1="{y - 4}" y2="{y - 4}" stroke="{col}" '
            f'stroke-width="3"{dash}/><text x="{x + 22}" y="{y}">{_e(name)}</text></g>'
        )
        x += 40 + int(7.2 * len(name))
    return out


def _bands(f: Frame, bands: Sequence[Band]) -> list[str]:
    out = []
    for b in bands:
        x0, x1 = f.x(max(b.x0, f.x0)), f.x(min(b.x1, f.x1))
        if x1 <= x0:
            continue
        out.append(
            f'<rect class="band" x="{x0:.1f}" y="{TOP}" width="{x1 - x0:.1f}" height="{f.ph:.1f}">'
            f"<title>{_e(b.label)}</title></rect>"
        )
        if x1 - x0 >= 6 * len(b.label) + 6:  # a narrow band keeps its label as a tooltip
            out.append(f'<text class="bandlabel" x="{x0 + 3:.1f}" y="{TOP + 11}">{_e(b.label)}</text>')
    return out


def line_chart(
    fig_id: str,
    title: str,
    series: Sequence[Series],
    *,
    y_label: str,
    x_label: str = "time (UTC)",
    y_fmt: Fmt = number,
    tip: Callable[[Series, float, float], str] | None = None,
    bands: Sequence[Band] = (),
    steps: bool = False,
    bucket: float | None = None,
    caption: str | None = None,
    width: int = W,
    height: int = H,
) -> str:
    """A time chart of one or more series; `steps` draws each value as a flat step over its bucket
    (`bucket` seconds; else the smallest gap between two points, an hour for a single point: a
    chart per day whose points are a week apart drew each day's value as the week's)."""
    xs = [x for s in series for x, _ in s.points] + [v for b in bands for v in (b.x0, b.x1)]
    ys = [y for s in series for _, y in s.points]
    if not xs:
        return empty(fig_id, title, "no data in this period", width)
    step = (bucket or _bucket(series)) if steps else 0.0
    f = Frame(min(xs), max(xs) + step, max(ys, default=0.0), width, height, y0=min(ys, default=0.0))
    body = _y_axis(f, y_label, y_fmt) + _bands(f, bands) + _x_time_axis(f, x_label)
    legend = []
    for i, s in enumerate(series):
        col = s.colour or colour(i)
        legend.append((s.name, col, s.dashed))
        pts = []
        for x, y in s.points:
            if steps:
                pts += [f"{f.x(x):.1f},{f.y(y):.1f}", f"{f.x(x + step):.1f},{f.y(y):.1f}"]
            else:
                pts.append(f"{f.x(x):.1f},{f.y(y):.1f}")
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        body.append(
            f'<polyline class="series" fill="none" stroke="{col}" stroke-width="1.8"{dash} points="{" ".join(pts)}">'
            f"<title>{_e(s.name)}</title></polyline>"
        )
        if tip is not None and len(s.points) <= 400:
            for x, y in s.points:
                cx = f.x(x + step / 2)
                body.append(
                    f'<circle class="pt" cx="{cx:.1f}" cy="{f.y(y):.1f}" r="3" fill="{col}">'
                    f"<title>{_e(tip(s, x, y))}</title></circle>"
                )
    body += _legend(f, legend)
    return _svg(fig_id, title, width, height, body, caption)


def _bucket(series: Sequence[Series]) -> float:
    gaps = [b[0] - a[0] for s in series for a, b in zip(s.points, s.points[1:], strict=False) if b[0] > a[0]]
    return min(gaps) if gaps else 3600.0


def bar_chart(
    fig_id: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    y_label: str,
    x_label: str,
    y_fmt: Fmt = number,
    tip_fmt: Fmt | None = None,
    stacked: bool = False,
    highlight: int | None = None,
    caption: str | None = None,
    width: int = W,
    height: int = H,
) -> str:
    """Vertical bars per category: side by side per series, or `stacked`.  `series[i].points[j][1]` is
    the value of series i in category j.  `highlight`: a category drawn with a thick outline.
    `tip_fmt`: a bar's value on hover (default `y_fmt`, the axis's)."""
    tip = tip_fmt or y_fmt
    if not categories:
        return empty(fig_id, title, "nothing to show", width)
    vals = [[p[1] for p in s.points] for s in series]
    top = (
        max((sum(col) for col in zip(*vals, strict=False)), default=0)
        if stacked
        else max((v for row in vals for v in row), default=0)
    )
    low = min((v for row in vals for v in row), default=0.0)  # (a bar below 0 is drawn below the axis)
    f = Frame(0, len(categories), top, width, height, y0=0.0 if stacked else low)
    body = _y_axis(f, y_label, y_fmt)
    slot = f.pw / len(categories)
    inner = slot * 0.72
    per = inner if stacked else inner / max(len(series), 1)
    for j, cat in enumerate(categories):
        x_start = f.left + j * slot + (slot - inner) / 2
        base = 0.0
        for i, s in enumerate(series):
            v = vals[i][j] if j < len(vals[i]) else 0.0
            x = x_start if stacked else x_start + i * per
            y0, y1 = (base, base + v) if stacked else (0.0, v)
            h = abs(f.y(y0) - f.y(y1))
            outline = ' stroke="#111" stroke-width="2.5"' if highlight == j else ""
            body.append(
                f'<rect class="bar" x="{x:.1f}" y="{min(f.y(y0), f.y(y1)):.1f}" width="{max(per - 1, 1):.1f}" height="{h:.1f}" '
                f'fill="{s.colour or colour(i)}"{outline}><title>{_e(f"{cat} · {s.name}: {tip(v)}")}</title></rect>'
            )
            if stacked:
                base += v
        label = cat if len(cat) <= 26 else cat[:25] + "…"
        cx = f.left + (j + 0.5) * slot
        rot = len(categories) > 6
        anchor = "end" if rot else "middle"
        transform = f' transform="rotate(-25 {cx:.1f} {TOP + f.ph + 14:.1f})"' if rot else ""
        body.append(
            f'<text class="tick" x="{cx:.1f}" y="{TOP + f.ph + 14:.1f}" text-anchor="{anchor}"{transform}>{_e(label)}</text>'
        )
    body.append(
        f'<text class="axis" x="{f.left + f.pw / 2:.0f}" y="{height - 22}" text-anchor="middle">{_e(x_label)}</text>'
    )
    if len(series) > 1:
        body += _legend(f, [(s.name, s.colour or colour(i), False) for i, s in enumerate(series)])
    return _svg(fig_id, title, width, height, body, caption)


def hbar_chart(
    fig_id: str,
    title: str,
    rows: Sequence[tuple[str, float, str]],
    *,
    x_label: str,
    x_fmt: Fmt = number,
    highlight: int | None = None,
    caption: str | None = None,
    width: int = W,
) -> str:
    """Horizontal bars, one per row (label, value, colour); the value printed at the bar's end."""
    if not rows:
        return empty(fig_id, title, "nothing to show", width)
    row_h = 22
    left = min(360, 30 + int(6.4 * max(len(r[0]) for r in rows)))
    height = TOP + row_h * len(rows) + BOTTOM
    ticks = nice_ticks(max(r[1] for r in rows), bottom=min(r[1] for r in rows))
    lo, span = ticks[0], ticks[-1] - ticks[0]
    pw = width - left - RIGHT - 70

    def at(v: float) -> float:
        return left + (v - lo) / span * pw

    body = []
    for v in ticks:
        x = at(v)
        body.append(
            f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{TOP + row_h * len(rows)}"/>'
        )
        body.append(
            f'<text class="tick" x="{x:.1f}" y="{TOP + row_h * len(rows) + 14}" text-anchor="middle">{_e(x_fmt(v))}</text>'
        )
    for i, (label, v, col) in enumerate(rows):
        y = TOP + i * row_h
        x0, x1 = at(min(v, 0.0)), at(max(v, 0.0))  # (from 0: a bar below 0 goes left of it)
        outline = ' stroke="#111" stroke-width="2"' if highlight == i else ""
        weight = ' font-weight="bold"' if highlight == i else ""
        body.append(
            f'<text class="tick" x="{left - 6}" y="{y + row_h * 0.68:.1f}" text-anchor="end"{weight}>{_e(label)}</text>'
            f'<rect class="bar" x="{x0:.1f}" y="{y + 3}" width="{max(x1 - x0, 1):.1f}" height="{row_h - 6}" fill="{col}"{outline}>'
            f"<title>{_e(f'{label}: {x_fmt(v)}')}</title></rect>"
            f'<text class="val" x="{x1 + 4:.1f}" y="{y + row_h * 0.68:.1f}"{weight}>{_e(x_fmt(v))}</text>'
        )
    body.append(
        f'<text class="axis" x="{left + pw / 2:.0f}" y="{height - 22}" text-anchor="middle">{_e(x_label)}</text>'
    )
    return _svg(fig_id, title, width, height, body, caption)


def dot_timeline(
    fig_id: str,
    title: str,
    rows: Sequence[tuple[str, list[tuple[float, int]]]],
    *,
    t0: float,
    t1: float,
    unit: str,
    caption: str | None = None,
    width: int = W,
) -> str:
    """One row per label (an alarm rule), a dot per time bucket sized by its count."""
    if not rows:
        return empty(fig_id, title, "nothing to show", width)
    row_h = 30
    left = min(240, 30 + int(6.6 * max(len(r[0]) for r in rows)))
    height = TOP + row_h * len(rows) + BOTTOM
    f = Frame(t0, t1, 1.0, width, height, left)
    peak = max((n for _, pts in rows for _, n in pts), default=1)
    body = []
    for i, (label, pts) in enumerate(rows):
        y = TOP + (i + 0.5) * row_h
        col = colour(i)
        body.append(f'<line class="grid" x1="{left}" x2="{left + f.pw:.1f}" y1="{y:.1f}" y2="{y:.1f}"/>')
        body.append(f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_e(label)}</text>')
        for t, n in pts:
            r = 2.5 + 9 * math.sqrt(n / peak)
            when = date_text(datetime.fromtimestamp(t, UTC), "%d %b %H:%M")
            body.append(
                f'<circle class="pt" cx="{f.x(t):.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{col}" fill-opacity="0.75">'
                f"<title>{_e(f'{label}, {when} UTC: {n:,} {unit}')}</title></circle>"
            )
    body += _x_time_axis_rows(f, TOP + row_h * len(rows))
    body.append(
        f'<text class="axis" x="{f.left + f.pw / 2:.0f}" y="{height - 8}" text-anchor="middle">'
        f"time (UTC); dot area: {_e(unit)} (largest {peak:,})</text>"
    )
    return _svg(fig_id, title, width, height, body, caption)


def _x_time_axis_rows(f: Frame, y_axis: float) -> list[str]:
    ticks, fmt = time_ticks(_utc(f.x0), _utc(f.x1))
    out = [
        f'<line class="axisline" x1="{f.left}" x2="{f.left + f.pw:.1f}" y1="{y_axis:.1f}" y2="{y_axis:.1f}"/>'
    ]
    for t in ticks:
        x = f.x(t.timestamp())
        out.append(
            f'<text class="tick" x="{x:.1f}" y="{y_axis + 16:.1f}" text-anchor="middle">{_e(date_text(t, fmt))}</text>'
        )
    return out


def gantt(
    fig_id: str,
    title: str,
    spans: Sequence[tuple[str, float, float, bool]],
    marks: Sequence[tuple[float, str]] = (),
    *,
    caption: str | None = None,
    width: int = W,
) -> str:
    """Spans on a seconds axis, one row each (label, start s, duration s, ok), and marks (URCs) as ticks."""
    if not spans:
        return empty(fig_id, title, "no steps recorded", width)
    row_h = 24
    left = min(260, 30 + int(6.6 * max(len(s[0]) for s in spans)))
    rows_h = row_h * (len(spans) + (1 if marks else 0))
    height = TOP + rows_h + BOTTOM
    end = max([s[1] + s[2] for s in spans] + [m[0] for m in marks])
    ticks = nice_ticks(end or 1.0)
    f = Frame(0.0, ticks[-1], 1.0, width, height, left)
    body = []
    for v in ticks:
        x = f.x(v)
        body.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{TOP + rows_h}"/>')
        body.append(
            f'<text class="tick" x="{x:.1f}" y="{TOP + rows_h + 14}" text-anchor="middle">{_e(number(v))}</text>'
        )
    for i, (label, start, dur, ok) in enumerate(spans):
        y = TOP + i * row_h
        col = PALETTE[0] if ok else PALETTE[5]
        w = max(f.x(start + dur) - f.x(start), 2.0)
        body.append(
            f'<text class="tick" x="{left - 6}" y="{y + row_h * 0.68:.1f}" text-anchor="end">{_e(label)}</text>'
            f'<rect class="bar" x="{f.x(start):.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" fill="{col}">'
            f"<title>{_e(f'{label}: {start:.3f} s to {start + dur:.3f} s ({dur:.3f} s)' + ('' if ok else ', failed'))}</title></rect>"
        )
    if marks:
        y = TOP + len(spans) * row_h
        body.append(
            f'<text class="tick" x="{left - 6}" y="{y + row_h * 0.68:.1f}" text-anchor="end">URCs</text>'
        )
        # One tick per pixel at most, hovering the marks it stands for: a modem's line noise (a wrong
        # baud rate) is a URC per line, and 20,000 of them drew 20,000 ticks, a page of 4 MB.
        at: dict[int, list[tuple[float, str]]] = {}
        for t, text in marks:
            at.setdefault(round(f.x(t)), []).append((t, text))
        for x, here in at.items():
            (first, text), last = here[0], here[-1][0]
            tip = f"{first:.3f} s: {text}"
            if len(here) > 1:
                tip = f"{len(here):,} URCs from {first:.3f} s to {last:.3f} s; the first at {tip}"
            body.append(
                f'<line class="urc" x1="{x:.1f}" x2="{x:.1f}" y1="{y + 3}" y2="{y + row_h - 3}" stroke="{PALETTE[1]}" stroke-width="2">'
                f"<title>{_e(tip)}</title></line>"
            )
    body.append(
        f'<text class="axis" x="{left + f.pw / 2:.0f}" y="{height - 22}" text-anchor="middle">seconds since the bench started</text>'
    )
    legend = [("step passed", PALETTE[0], False), ("step failed", PALETTE[5], False)]
    if marks:
        legend.append(("URC received", PALETTE[1], False))
    body += _legend(f, legend)
    return _svg(fig_id, title, width, height, body, caption)


def empty(fig_id: str, title: str, note: str, width: int = W) -> str:
    """A chart with nothing to draw still has its element, its title and says why."""
    body = [f'<text class="note" x="{width / 2:.0f}" y="60" text-anchor="middle">{_e(note)}</text>']
    return _svg(fig_id, title, width, 90, body, None)
