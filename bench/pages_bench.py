"""How long the provider page takes to make on a worker, for a provider with 100,000 takebacks.

    .venv/bin/python -m bench.pages_bench [--takebacks 100000] [--remittances 2000] [--repeat 20]

Builds the provider in memory (takebacks with every status, kind, method, category, five payers, two years of
dates; remittances of 50 claims each), then times what a worker does for a page request once the ledger is
decoded: the worklist query, the reconciliation, open balances by age, payments, and the template, rendered to
HTML. Measured: the first page (no filter), a filtered page (status + kind + payer + date range), a deep page
(offset 50,000), building the index of a ledger first seen (TakebackIndex.build), updating it after a change (50
takebacks revised, 50 new) with the first page, and the CSV and XLSX of all takebacks.
Not a timed test: figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from schemas import NetCashRow, PayerCash, ReasonCategory, Takeback, TakebackKind, TakebackMethod, TakebackStatus
from streams.domain.facts import ClaimFact, PlbFact, RemittanceFacts
from streams.pages import tables
from streams.pages.exports import Sheet, csv_chunks, write_xlsx
from streams.pages.filters import Paging, WorklistFilter
from streams.pages.queries import ProviderData, TakebackIndex, all_matching
from streams.pages.render import environment
from streams.pages.views import Loaded, provider_context

PROVIDER = "1234567893"
PAYERS = [f"19999999{i:02d}" for i in range(5)]
START = dt.date(2024, 1, 1)


def build(takebacks: int, remittances: int, seed: int = 7) -> ProviderData:
    rng = random.Random(seed)
    facts = []
    for r in range(remittances):
        day = START + dt.timedelta(days=r * 730 // remittances)
        claims = [ClaimFact(f"PCN{r}-{c}", "1", Decimal(rng.randint(1000, 90000)) / 100) for c in range(50)]
        facts.append(
            RemittanceFacts.model_construct(
                remittance_id=f"R{r:06d}",
                trace_number=str(100000 + r),
                payer_id=PAYERS[r % len(PAYERS)],
                moved_money=True,
                net_cash=sum((c.payment for c in claims), Decimal(0)),
                effective_date=day,
                takeback_date=day,
                claims=claims,
                adjustments=[PlbFact.model_construct(provider_id=PROVIDER, reason_code="WO", amount=Decimal("12.50"))],
                published=[],
                flags=[],
                payee_ids=[PROVIDER],
            )
        )
    statuses = list(TakebackStatus)
    categories = list(ReasonCategory)
    emitted = {}
    for i in range(takebacks):
        carrier = facts[rng.randrange(remittances)]
        status = statuses[rng.randrange(len(statuses))]
        amount = Decimal(rng.randint(100, 50000)) / 100
        t = Takeback(
            event_id=f"{i:032x}",
            kind=TakebackKind.recoupment if i % 3 else TakebackKind.reversal,
            method=TakebackMethod.offset if i % 5 else TakebackMethod.refund,
            amount=amount,
            provider_id=PROVIDER,
            payee_provider_id=PROVIDER,
            payer_id=carrier.payer_id,
            claim_id=f"PCN{i}",
            trace_number=carrier.trace_number,
            remittance_id=carrier.remittance_id,
            takeback_date=carrier.takeback_date,
            reason_codes=["CO-45"],
            reason_category=categories[i % len(categories)],
            status=status,
            remaining=amount / 2 if status == TakebackStatus.open else None,
            withdrawn=status == TakebackStatus.withdrawn,
        )
        emitted[t.event_id] = t
    row = NetCashRow(
        provider_id=PROVIDER,
        revision=remittances,
        net_cash=sum((f.net_cash for f in facts), Decimal(0)),
        claim_payments=sum((f.net_cash for f in facts), Decimal(0)),
        by_payer=[PayerCash(payer_id=p) for p in PAYERS],
        last_remittance_date=facts[-1].takeback_date,
    )
    return ProviderData(PROVIDER, row, emitted, facts)


def after_a_change(
    data: ProviderData, index: TakebackIndex, loaded: Loaded, render: Callable[[], str], repeat: int
) -> tuple[str, float, float]:
    """A new remittance: 50 takebacks revised (settled) and 50 new ones; then the first page. Changes untimed."""
    rng = random.Random(11)
    takebacks = data.takebacks
    assert isinstance(takebacks, dict)
    ids = list(takebacks)
    newest = max(t.takeback_date for t in takebacks.values() if t.takeback_date)
    runs = []
    for run in range(repeat):
        day = newest + dt.timedelta(days=run + 1)
        for event_id in rng.sample(ids, 50):
            takebacks[event_id] = takebacks[event_id].model_copy(update={"status": "settled", "remaining": None})
        template = takebacks[ids[0]]
        for n in range(50):
            fresh = template.model_copy(update={"event_id": f"new-{run}-{n}", "takeback_date": day})
            takebacks[fresh.event_id] = fresh
        started = time.perf_counter()
        loaded.index = index.updated(takebacks)
        render()
        runs.append((time.perf_counter() - started) * 1000)
    return "index update + first page after a change", statistics.median(runs), max(runs)


def timed(label: str, repeat: int, run: Callable[[], object]) -> tuple[str, float, float]:
    run()  # warm (template compile, first allocations)
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        runs.append((time.perf_counter() - started) * 1000)
    return label, statistics.median(runs), max(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--takebacks", type=int, default=100_000)
    parser.add_argument("--remittances", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    started = time.perf_counter()
    data = build(args.takebacks, args.remittances)
    print(
        f"built {args.takebacks:,} takebacks, {args.remittances:,} remittances in {time.perf_counter() - started:.1f} s"
    )
    env = environment()
    template = env.get_template("provider.html")
    index = TakebackIndex.build(data.takebacks)
    loaded = Loaded(data, index)

    def page(wanted: WorklistFilter, paging: Paging) -> Callable[[], str]:
        return lambda: template.render(include_patient_data=False, **provider_context(loaded, wanted, paging))

    filtered = WorklistFilter(
        status="open", kind="recoupment", payer=PAYERS[1], date_from=dt.date(2024, 6, 1), date_to=dt.date(2025, 6, 30)
    )
    html = page(filtered, Paging())()
    assert "Takebacks, newest first" in html
    rows = [
        timed("first page (50 rows, no filter)", args.repeat, page(WorklistFilter(), Paging())),
        timed("filtered page (status+kind+payer+dates)", args.repeat, page(filtered, Paging())),
        timed("deep page (offset 50,000)", args.repeat, page(WorklistFilter(), Paging(offset=50_000))),
        timed("index build (a ledger first seen)", 3, lambda: TakebackIndex.build(data.takebacks)),
        after_a_change(data, index, loaded, page(WorklistFilter(), Paging()), args.repeat),
    ]
    everything = all_matching(data.takebacks, index, WorklistFilter())
    columns = tables.takeback_columns(False)
    rows.append(timed("CSV of all takebacks", 3, lambda: sum(len(c) for c in csv_chunks(columns, everything))))
    with tempfile.TemporaryDirectory() as work:
        target = Path(work) / "t.xlsx"
        rows.append(
            timed("XLSX of all takebacks", 1, lambda: write_xlsx(str(target), [Sheet("T", columns, everything)]))
        )
        size = target.stat().st_size
    out = io.StringIO()
    out.write(f"{'what':<42} {'median ms':>10} {'max ms':>10}\n")
    for label, median, worst in rows:
        out.write(f"{label:<42} {median:>10.1f} {worst:>10.1f}\n")
    print(out.getvalue(), end="")
    print(f"(XLSX {size / 1e6:.1f} MB; {len(everything):,} rows exported, withdrawn ones left out)")


if __name__ == "__main__":
    main()
