"""The domain alone: read + apply in one process, no broker; the baseline the pipeline is compared with.

    .venv/bin/python -m bench.domain_bench [--claims 200000] [--providers 200] [--late-state-claims 200000]

On the benchmark's ERA mix (the same data `bench/pipeline_bench.py` publishes) it measures, in claims/s:
read + apply in time order (the baseline of `pipeline/domain`; median of three rounds), apply alone in time order
and shuffled, and the canonical-order pre-read. With `--late-state-claims N` it also times applying one remittance
dated a week before the latest against an in-order one, to a provider holding N claims of history, and how many of
the late ones the ledger applied in place (streams/domain/late_arrival.py). `--json` prints one JSON object
(what pipeline_bench reads); the process is the bench's child so its heap does not weigh on the pipeline legs.
Not a test: figures depend on the machine (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import random
import statistics
import sys
import time
from dataclasses import asdict, dataclass

from schemas import Remittance
from streams.domain.canonical_order import earliest_order_key
from streams.domain.late_arrival import LateArrivals, late_arrivals
from streams.domain.ledger import ProviderLedger
from streams.domain.offline import apply_all, read_inputs
from streams.process_tuning import keep_state_out_of_full_collections
from tests.support.era_mix import era_stream

LATE_BY = dt.timedelta(days=7)
LATE_SAMPLES = 7  # remittances timed each way, alternating


@dataclass
class DomainFigures:
    claims: int
    read_and_apply: float  # claims/s, time order: the pipeline's baseline
    apply_in_order: float
    apply_shuffled: float
    pre_read: float  # claims/s placed in canonical order (streams/domain/canonical_order.py)
    late_state_claims: int = 0
    in_order_ms: float = 0.0  # median time to apply one remittance in order, at late_state_claims of history
    late_ms: float = 0.0  # the same for one dated a week before the latest
    late_in_place: str = ""  # how many late remittances the ledgers applied in place (streams/domain/late_arrival.py)


def claims_in(remittances: list[Remittance]) -> int:
    return sum(len(r.claims) for r in remittances)


def timed(work: object) -> float:
    started = time.perf_counter()
    work()  # type: ignore[operator]
    return time.perf_counter() - started


ROUNDS = 3  # read + apply from scratch this many times, the median kept: one round moved by a fifth on this machine


def domain_rates(claims: int, providers: int, seed: int = 1) -> DomainFigures:
    files = list(era_stream(claims, providers=providers))
    pre_read_s = timed(lambda: [earliest_order_key(data) for _, data in files])
    rounds = sorted(read_and_apply(files) for _ in range(ROUNDS))
    read_and_apply_s, apply_s, remittances = rounds[len(rounds) // 2]
    shuffled = remittances[:]
    random.Random(seed).shuffle(shuffled)
    shuffled_s = timed(lambda: apply_all(shuffled))
    total = claims_in(remittances)
    return DomainFigures(total, total / read_and_apply_s, total / apply_s, total / shuffled_s, total / pre_read_s)


def read_and_apply(files: list[tuple[str, bytes]]) -> tuple[float, float, list[Remittance]]:
    """Seconds to read and apply the files in time order on fresh ledgers, seconds of the apply, the remittances."""
    started = time.perf_counter()
    remittances, _ = read_inputs(files)
    apply_s = timed(lambda: apply_all(remittances))
    return time.perf_counter() - started, apply_s, remittances


def day_of(remittance: Remittance) -> dt.date:
    return remittance.production_date or remittance.payment.effective_date


def dated(remittance: Remittance, day: dt.date) -> Remittance:
    payment = remittance.payment.model_copy(update={"effective_date": day})
    return remittance.model_copy(update={"production_date": day, "payment": payment})


def late_remittance_cost(state_claims: int) -> tuple[float, float]:
    """Median ms to apply one remittance in order, and one dated a week before the latest, to one provider holding
    `state_claims` claims of history (timed alternately, each on the state the previous one left)."""
    remittances, _ = read_inputs(era_stream(state_claims + 4_000, providers=1, seed=21))
    cut, seen = 0, 0
    while cut < len(remittances) and seen + len(remittances[cut].claims) <= state_claims:
        seen += len(remittances[cut].claims)
        cut += 1
    history, held = remittances[:cut], remittances[cut:]
    ledgers: dict[str, ProviderLedger] = {}
    apply_all(history, ledgers=ledgers)
    latest = max(day_of(r) for r in history)
    in_order_s, late_s = [], []
    for index, remittance in enumerate(held[: 2 * LATE_SAMPLES]):
        if index % 2:
            late = dated(remittance, latest - LATE_BY)
            late_s.append(timed(lambda late=late: apply_all([late], ledgers=ledgers)))
        else:
            in_order_s.append(timed(lambda r=remittance: apply_all([r], ledgers=ledgers)))
    return statistics.median(in_order_s) * 1000, statistics.median(late_s) * 1000


def measure(claims: int, providers: int, late_state_claims: int) -> DomainFigures:
    keep_state_out_of_full_collections()  # as a worker does (streams/process_tuning.py)
    figures = domain_rates(claims, providers)
    if late_state_claims:
        figures.late_state_claims = late_state_claims
        before = dataclasses.replace(late_arrivals)
        figures.in_order_ms, figures.late_ms = late_remittance_cost(late_state_claims)
        figures.late_in_place = LateArrivals(
            late_arrivals.late - before.late, late_arrivals.in_place - before.in_place
        ).describe()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, default=200_000)
    parser.add_argument("--providers", type=int, default=200)
    parser.add_argument("--late-state-claims", type=int, default=200_000, help="0 skips the late-remittance leg")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    figures = measure(args.claims, args.providers, args.late_state_claims)
    if args.json:
        print(json.dumps(asdict(figures)))
        return 0
    for line in describe(figures):
        print(line)
    return 0


def describe(f: DomainFigures) -> list[str]:
    lines = [
        f"{'domain alone, read + apply, time order':<44} {f.read_and_apply:,.0f} claims/s ({f.claims:,} claims)",
        f"{'domain apply, time order / shuffled':<44} {f.apply_in_order:,.0f} / {f.apply_shuffled:,.0f} claims/s "
        f"(shuffled/in-order = {f.apply_shuffled / f.apply_in_order:.2f})",
        f"{'canonical-order pre-read':<44} {f.pre_read:,.0f} claims/s",
    ]
    if f.late_state_claims:
        lines.append(
            f"{f'one remittance at {f.late_state_claims:,} claims of state':<44} in order {f.in_order_ms:.1f} ms, "
            f"a week late {f.late_ms:.1f} ms (late/in-order = {f.late_ms / f.in_order_ms:.2f})"
        )
        lines.append(f"{'':<44} {f.late_in_place}")
    return lines


if __name__ == "__main__":
    sys.exit(main())
