"""The charts of the provider page and the overview: what a person would rather look at than read.

Each is built from the same figures as the pages' tables (the takebacks, the remittances' net cash, the open
balances by age), so a bar never says something a table does not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from schemas import Takeback
from streams.domain.deadlines.forecast import HORIZONS
from streams.domain.deadlines.today import ForecastLine
from streams.domain.facts import RemittanceFacts
from streams.pages.charts import ZERO, BarChart, Series, series_from
from streams.pages.names import Names
from streams.pages.queries import AGE_BUCKETS, OFFSET_FIELDS, AgeLine, OverviewLine

__all__ = [
    "BarChart",
    "TakenByDay",
    "cash_against_taken",
    "offsets_by_payer",
    "offsets_per_provider",
    "open_by_age",
    "takebacks_by_month",
    "taken_per_provider",
]

WINDOWS = tuple(f"within {days} days" for days in HORIZONS)
MONTHS_SHOWN = 12
PROVIDERS_SHOWN = 12


def months_to(as_of: dt.date, days: Iterable[dt.date | None], count: int = MONTHS_SHOWN) -> list[str]:
    """The calendar months (YYYY-MM) from the first of `days` to as_of's, at most the last `count`, oldest first:
    a provider seen for two months gets two bars, not ten empty ones."""
    first_day = min((d for d in days if d is not None and d <= as_of), default=as_of)
    first = _month(first_day)
    year, month = as_of.year, as_of.month
    out: list[str] = []
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}")
        if out[-1] <= first:
            break
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def month_names(labels: Sequence[str]) -> tuple[str, ...]:
    """Under the bars: "Mar", with the year on the first bar and on January ("Jan 26")."""
    out = []
    for i, label in enumerate(labels):
        day = dt.date.fromisoformat(label + "-01")
        out.append(day.strftime("%b %y") if i == 0 or day.month == 1 else day.strftime("%b"))
    return tuple(out)


def _month(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


@dataclass
class TakenByDay:
    """Live takebacks summed per (takeback date, reason, payer): one pass over a provider's takebacks, which its
    three monthly charts then read (a provider has a few hundred dates, not 100,000 takebacks)."""

    sums: dict[tuple[dt.date, str, str], Decimal]

    @classmethod
    def of(cls, takebacks: Iterable[Takeback]) -> TakenByDay:
        sums: dict[tuple[dt.date, str, str], Decimal] = {}
        for t in takebacks:
            if t.withdrawn or t.takeback_date is None:
                continue
            key = (t.takeback_date, t.reason_category, t.payer_id)
            sums[key] = sums.get(key, ZERO) + t.amount
        return cls(sums)

    def per_month(self, labels: Sequence[str], group: Callable[[str, str], str]) -> dict[str, dict[str, Decimal]]:
        """{group(reason, payer): {month: amount}} for the months shown."""
        shown = set(labels)
        out: dict[str, dict[str, Decimal]] = {}
        for (day, reason, payer), amount in self.sums.items():
            month = _month(day)
            if month in shown:
                per_month = out.setdefault(group(reason, payer), {})
                per_month[month] = per_month.get(month, ZERO) + amount
        return out


def takebacks_by_month(taken: TakenByDay, as_of: dt.date, group: str, names: Names, chart_id: str) -> BarChart:
    """Amounts taken back per month of the takeback date, stacked by reason (`group` "reason") or payer."""
    labels = months_to(as_of, (day for day, _, _ in taken.sums))
    if group == "reason":
        sums = taken.per_month(labels, lambda reason, _: reason.replace("_", " "))
    else:
        sums = taken.per_month(labels, lambda _, payer: names.payer(payer))
    title = "Taken back per month, by reason" if group == "reason" else "Taken back per month, by payer"
    return BarChart(
        chart_id,
        title,
        "Month",
        tuple(labels),
        series_from(labels, sums),
        stacked=True,
        empty_text="Nothing was taken back.",
        axis_labels=month_names(labels),
    )


def cash_against_taken(remittances: Iterable[RemittanceFacts], taken: TakenByDay, as_of: dt.date) -> BarChart:
    """Per month: the net cash the payments brought (BPR02 as it moved) against what takebacks took back."""
    remittances = list(remittances)
    labels = months_to(as_of, (r.takeback_date for r in remittances))
    cash = dict.fromkeys(labels, ZERO)
    for r in remittances:
        if r.takeback_date is not None and (month := _month(r.takeback_date)) in cash:
            cash[month] += r.net_cash
    total = taken.per_month(labels, lambda _, __: "taken back").get("taken back", {})
    series = (
        Series("net cash", tuple(cash[m] for m in labels)),
        Series("taken back", tuple(total.get(m, ZERO) for m in labels)),
    )
    title = "Net cash against what was taken back, per month"
    return BarChart("cash-vs-taken", title, "Month", tuple(labels), series, axis_labels=month_names(labels))


def open_by_age(ages: Sequence[AgeLine], names: Names) -> BarChart:
    """What is still owed on open takebacks by age, stacked by payer (the open balances table's figures)."""
    labels = tuple(f"{label} days" for label, _, _ in AGE_BUCKETS)
    per_payer = [line for line in ages if line.payer_id != "all payers"]
    sums = {names.payer(line.payer_id): dict(zip(labels, line.buckets, strict=True)) for line in per_payer}
    title = "Still owed on open takebacks, by age"
    series = series_from(labels, sums)
    return BarChart("open-by-age", title, "Age", labels, series, stacked=True, empty_text="Nothing open.")


def taken_per_provider(lines: Sequence[OverviewLine], names: Names) -> BarChart:
    """The providers most taken from: reversed and recouped, stacked."""
    top = sorted(lines, key=lambda line: (-(line.reversed + line.recouped), line.provider_id))[:PROVIDERS_SHOWN]
    labels = tuple(names.provider(line.provider_id) for line in top)
    series = (
        Series("reversed", tuple(line.reversed for line in top)),
        Series("recouped", tuple(line.recouped for line in top)),
    )
    note = f"The {PROVIDERS_SHOWN} providers most taken from." if len(lines) > PROVIDERS_SHOWN else ""
    return BarChart(
        "taken-per-provider", "Taken back per provider", "Provider", labels, series, stacked=True, note=note
    )


def offsets_by_payer(lines: Sequence[ForecastLine], names: Names, today: dt.date) -> BarChart:
    """Rules §13: what each payer is expected to withhold within 7, 30 and 60 days (cumulative), stacked."""
    sums = {
        names.payer(line.payer_id): dict(zip(WINDOWS, _windows(line), strict=True))
        for line in lines
        if any(_windows(line))
    }
    undated = sum((line.undated for line in lines), ZERO)
    note = f"Also owed with no expected day: {undated:,.2f} (payer of unknown kind)." if undated else ""
    return BarChart(
        "forecast",
        f"Expected offsets from {today.isoformat()}",
        "Window",
        WINDOWS,
        series_from(WINDOWS, sums),
        stacked=True,
        note=note,
        empty_text="No offset is expected: nothing carried or open with a known offset day.",
    )


def offsets_per_provider(lines: Sequence[OverviewLine], names: Names, today: dt.date) -> BarChart:
    """The overview's forecast: expected offsets within 7, 30 and 60 days, stacked by provider."""
    sums = {
        names.provider(line.provider_id): {w: getattr(line, f) for w, f in zip(WINDOWS, OFFSET_FIELDS, strict=True)}
        for line in lines
        if any(getattr(line, f) for f in OFFSET_FIELDS)
    }
    return BarChart(
        "forecast-per-provider",
        f"Expected offsets from {today.isoformat()}, per provider",
        "Window",
        WINDOWS,
        series_from(WINDOWS, sums),
        stacked=True,
        empty_text="No offset is expected for any provider.",
    )


def _windows(line: ForecastLine) -> tuple[Decimal, ...]:
    return tuple(getattr(line, f"within_{days}_days") for days in HORIZONS)
