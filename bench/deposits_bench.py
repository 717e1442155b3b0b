"""Bank readers and reassociation throughput: ``python -m bench.deposits_bench [--deposits N]``.

Reads a generated NACHA file and a BAI2 file of N deposits, then matches N remittances and the deposits in a
shuffled order with the in-memory matcher (the steps the reassociate agent takes, without Kafka).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar

from streams.domain.bank import read_bai2, read_nacha
from streams.domain.bank.matcher import DepositMatcher
from tests.support.bank_files import BankPayment, bai2_file, nacha_file
from tests.support.builders import claim, remittance

T = TypeVar("T")


def payments(count: int) -> list[BankPayment]:
    start = dt.date(2026, 1, 5)
    return [
        BankPayment(f"EFT{n:08d}", "1512345678", Decimal(100 + n % 5_000) / 100, start + dt.timedelta(days=n % 200))
        for n in range(count)
    ]


def timed(label: str, count: int, run: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = run()
    elapsed = time.perf_counter() - started
    print(f"{label}: {count:,} in {elapsed:.2f} s = {count / elapsed:,.0f}/s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deposits", type=int, default=50_000)
    args = parser.parse_args()
    bank = payments(args.deposits)
    nacha, bai2 = nacha_file(bank), bai2_file(bank)
    deposits = timed("nacha reader (deposits)", args.deposits, lambda: read_nacha(nacha).deposits)
    timed("bai2 reader (deposits)", args.deposits, lambda: read_bai2(bai2).deposits)
    eras = [
        remittance(p.trace_number, p.effective_date.isoformat(), [claim(f"P{n}", "1", str(p.amount))], payer=p.payer_id)
        for n, p in enumerate(bank)
    ]
    facts = [*eras, *deposits]  # type: ignore[list-item]
    random.Random(1).shuffle(facts)

    def match() -> DepositMatcher:
        matcher = DepositMatcher()
        for fact in facts:
            (matcher.add_remittance if hasattr(fact, "remittance_id") else matcher.add_deposit)(fact)
        return matcher

    matcher = timed("matcher (facts, shuffled)", len(facts), match)
    statuses = {str(r.status) for r in matcher.current()}
    if statuses != {"matched"}:
        raise SystemExit(f"unexpected outcomes: {statuses}")


if __name__ == "__main__":
    main()
