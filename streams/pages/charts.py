"""Bar charts drawn on the server as SVG, from (label, value) series, each shown with its figures in a table.

Why SVG drawn here and no chart library: nothing to build or vendor, no script (the pages work without
JavaScript and under a Content-Security-Policy that allows no inline script or style: colours are SVG presentation
attributes), and it prints as it shows. The table beside each chart (the template's `chart` macro puts both in a
<figure>) is what a screen reader reads; the drawing is hidden from it. Values stay Decimal: the bars' sizes are
computed in Decimal and rounded to a tenth of a pixel only when written.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from markupsafe import Markup, escape

ZERO = Decimal(0)
WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 72, 12, 30, 46  # room for the value axis, one row of legend and the labels
LEGEND_ROW = 16  # each further row of legend takes this from the drawing's height
# Okabe and Ito's palette: told apart by people with any common colour blindness, and in greyscale print
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000")
OTHER = "other"
BAR_MAX = 44  # pixels


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[Decimal, ...]  # one per label of the chart


@dataclass(frozen=True)
class BarChart:
    """Bars per label, one per series side by side (`stacked` False) or on top of each other (non-negative only)."""

    chart_id: str
    title: str
    label_header: str  # what the labels are: "Month", "Age (days)"
    labels: tuple[str, ...]
    series: tuple[Series, ...]
    stacked: bool = False
    note: str = ""
    empty_text: str = "Nothing to draw yet."
    axis_labels: tuple[str, ...] = ()  # shorter labels under the bars ("Mar 26" for 2026-03); the table has the full
    rows: list[tuple[str, tuple[Decimal, ...]]] = field(init=False)

    def __post_init__(self) -> None:
        for s in self.series:
            if len(s.values) != len(self.labels):
                raise ValueError(f"chart {self.chart_id}: series {s.name} has {len(s.values)} values")
        if self.stacked and any(v < 0 for s in self.series for v in s.values):
            object.__setattr__(self, "stacked", False)  # a negative part cannot be stacked: side by side instead
        rows = [(label, tuple(s.values[i] for s in self.series)) for i, label in enumerate(self.labels)]
        object.__setattr__(self, "rows", rows)

    @property
    def empty(self) -> bool:
        return not self.labels or not self.series

    @property
    def totals(self) -> bool:
        """A stacked chart of several series shows each label's total in its table."""
        return self.stacked and len(self.series) > 1

    def colour(self, position: int) -> str:
        return PALETTE[position % len(PALETTE)]

    def svg(self) -> Markup:
        return Markup(_draw(self))

    @functools.cached_property
    def figure(self) -> Markup:
        """The <figure>: caption, drawing and the table of its figures. Made once per chart (pages keep their charts
        per ledger version), so a page view does not draw again."""
        return Markup(_figure(self))


def series_from(
    labels: Sequence[str], sums: dict[str, dict[str, Decimal]], *, keep: int = len(PALETTE) - 1
) -> tuple[Series, ...]:
    """Series from {series name: {label: value}}, the largest first; beyond `keep`, the rest summed as 'other'."""
    ranked = sorted(sums, key=lambda name: (-sum(sums[name].values(), ZERO), name))
    kept, rest = ranked[:keep], ranked[keep:]
    out = [Series(name, tuple(sums[name].get(label, ZERO) for label in labels)) for name in kept]
    if rest:
        out.append(Series(OTHER, tuple(sum((sums[n].get(label, ZERO) for n in rest), ZERO) for label in labels)))
    return tuple(out)


# --------------------------------------------------------------------------- drawing


def _figure(chart: BarChart) -> str:
    note = f' <span class="hint">{escape(chart.note)}</span>' if chart.note else ""
    parts = [
        f'<figure class="chart" id="{escape(chart.chart_id)}">',
        f"<figcaption>{escape(chart.title)}{note}</figcaption>",
    ]
    if chart.empty:
        parts.append(f'<p class="empty">{escape(chart.empty_text)}</p></figure>')
        return "".join(parts)
    headers = "".join(f'<th scope="col" class="num">{escape(s.name)}</th>' for s in chart.series)
    total = '<th scope="col" class="num">Total</th>' if chart.totals else ""
    parts += [
        '<div class="chart-body">',
        _draw(chart),
        '<table class="chart-figures">',
        f"<caption>The figures of “{escape(chart.title)}”</caption>",
        f'<thead><tr><th scope="col">{escape(chart.label_header)}</th>{headers}{total}</tr></thead><tbody>',
    ]
    for label, values in chart.rows:
        cells = "".join(f'<td class="num">{_money(v)}</td>' for v in values)
        if chart.totals:
            cells += f'<td class="num">{_money(sum(values, ZERO))}</td>'
        parts.append(f'<tr><th scope="row">{escape(label)}</th>{cells}</tr>')
    parts.append("</tbody></table></div></figure>")
    return "".join(parts)


def _draw(chart: BarChart) -> str:
    low, high = _range(chart)
    legend, rows = _legend(chart)
    top = TOP + LEGEND_ROW * (rows - 1)
    scale = Decimal(HEIGHT - top - BOTTOM) / (high - low) if high > low else ZERO
    zero_y = top + (high - ZERO) * scale
    slot = Decimal(WIDTH - LEFT - RIGHT) / max(len(chart.labels), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" aria-hidden="true" focusable="false">'
    ]
    parts += _axis(low, high, scale, top)
    parts += legend
    for i, (label, values) in enumerate(chart.rows):
        x = LEFT + slot * i
        parts += _bars(chart, x, slot, label, values, zero_y, scale)
        shown = chart.axis_labels[i] if len(chart.axis_labels) == len(chart.labels) else label
        parts.append(
            f'<text class="chart-label" x="{_px(x + slot / 2)}" y="{HEIGHT - BOTTOM + 16}" '
            f'text-anchor="middle" font-size="11">{escape(_short(shown, slot))}</text>'
        )
    parts.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_px(zero_y)}" y2="{_px(zero_y)}" stroke="#333" stroke-width="1"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _range(chart: BarChart) -> tuple[Decimal, Decimal]:
    if chart.stacked:
        tops = [sum(values, ZERO) for _, values in chart.rows]
        return ZERO, _nice(max(tops, default=ZERO))
    values = [v for _, row in chart.rows for v in row]
    low = min([ZERO, *values])
    return (-_nice(-low) if low < 0 else ZERO), _nice(max([ZERO, *values]))


def _nice(value: Decimal) -> Decimal:
    """A round number at or above `value` for the top of the axis: 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return ZERO
    power = Decimal(10) ** (value.adjusted())
    for step in (1, 2, 5, 10):
        if value <= power * step:
            return power * step
    return power * 10


def _axis(low: Decimal, high: Decimal, scale: Decimal, top: int) -> list[str]:
    ticks = [low + (high - low) * Decimal(k) / 4 for k in range(5)] if high > low else [ZERO]
    out = []
    for tick in ticks:
        y = _px(top + (high - tick) * scale)
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}" stroke="#ddd" stroke-width="1"/>')
        out.append(
            f'<text x="{LEFT - 6}" y="{y}" dy="4" text-anchor="end" font-size="11" fill="#555">{_tick(tick)}</text>'
        )
    return out


def _legend(chart: BarChart) -> tuple[list[str], int]:
    """A swatch and the name of each series, in as many rows as they need; and how many rows."""
    out, x, row = [], Decimal(LEFT), 0
    for position, s in enumerate(chart.series):
        width = 24 + Decimal(len(s.name)) * Decimal("6.6")
        if x > LEFT and x + width > WIDTH - RIGHT:
            x, row = Decimal(LEFT), row + 1
        y = 8 + LEGEND_ROW * row
        out.append(f'<rect x="{_px(x)}" y="{y}" width="10" height="10" fill="{chart.colour(position)}"/>')
        out.append(f'<text x="{_px(x + 14)}" y="{y + 9}" font-size="11">{escape(s.name)}</text>')
        x += width
    return out, row + 1


def _bars(
    chart: BarChart,
    x: Decimal,
    slot: Decimal,
    label: str,
    values: tuple[Decimal, ...],
    zero_y: Decimal,
    scale: Decimal,
) -> list[str]:
    bars = 1 if chart.stacked else max(len(values), 1)
    inner = min(slot * Decimal("0.8"), Decimal(BAR_MAX * bars))  # a few labels: bars, not slabs
    width = inner / bars
    left = x + (slot - inner) / 2
    out, base = [], zero_y
    for position, (s, value) in enumerate(zip(chart.series, values, strict=True)):
        height = abs(value) * scale
        if chart.stacked:
            top, base = base - height, base - height
            bar_x = left
        else:
            top = zero_y - height if value >= 0 else zero_y
            bar_x = left + width * position
        out.append(
            f'<rect class="bar" x="{_px(bar_x)}" y="{_px(top)}" width="{_px(width)}" height="{_px(height)}" '
            f'fill="{chart.colour(position)}" data-label="{escape(label)}" data-series="{escape(s.name)}" '
            f'data-value="{value}"><title>{escape(label)}, {escape(s.name)}: {_money(value)}</title></rect>'
        )
    return out


def _px(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.1"), ROUND_HALF_UP))


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _tick(value: Decimal) -> str:
    """Axis figures in whole dollars, thousands as k: the exact figures are in the table."""
    if abs(value) >= 1000:
        return f"{value / 1000:,.1f}k".replace(".0k", "k")
    return f"{value:,.0f}"


def _short(label: str, slot: Decimal) -> str:
    room = int(slot / Decimal("6.5"))
    return label if len(label) <= room else label[: max(room - 1, 1)] + "…"
