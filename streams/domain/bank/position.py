"""Per provider and payer: money per ERAs against money per bank, and the open items by age (rules §10).

Built from the latest reassociation records. With no bank feed connected (no bank file has ever brought a deposit:
`feed_connected`) no money is missing: nobody can know, and saying so is all there is.
Open items are the records a person must work: money late on
either side, amounts that differ, duplicate deposits. Their age is counted in calendar days from the date the
item started (the ERA's BPR16, else the deposit's date) to stream time, in the buckets of rules §8a.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from decimal import Decimal

from schemas import ZERO, DepositPosition, PayerDeposits, Reassociation, ReassociationStatus
from streams.domain.cash import AGE_BUCKETS, age_bucket

Status = ReassociationStatus
OPEN = frozenset(
    {Status.era_without_deposit, Status.deposit_without_era, Status.amount_mismatch, Status.duplicate_deposit}
)


def feed_connected(records: Iterable[Reassociation]) -> bool:
    """Rules §10: whether a bank file has ever brought a deposit, over every record (all payees).

    Takeback reads no receiving account from the 835 (BPR15), so it cannot tell one payee account's feed from
    another's: a feed is connected once any bank file brought any deposit. Until then an ERA without deposit is "no
    bank feed connected", not "money missing"; from then on, outcomes are as before. Judged per payee instead, a
    payee whose every payment went missing would be the one told nothing is missing.
    """
    return any(r.deposit_id is not None or r.deposit_amount is not None for r in records)


def counts_as_open(record: Reassociation, connected: bool) -> bool:
    """An open item a person must work; an ERA's money is not missing while no bank feed is connected."""
    return record.status in OPEN and (connected or record.status != Status.era_without_deposit)


def open_amount(record: Reassociation) -> Decimal:
    """What is at stake in an open item: the missing, unposted or extra money, or the size of the gap."""
    if record.status == Status.era_without_deposit:
        return abs(record.era_amount or ZERO)  # a debit ERA's missing debit is at stake as much as a credit
    if record.status == Status.amount_mismatch:
        return abs(record.difference or ZERO)
    return abs(record.deposit_amount or ZERO)


def started(record: Reassociation) -> dt.date | None:
    return record.effective_date or record.deposit_date


def totals(records: list[Reassociation], connected: bool = True) -> dict[str, object]:
    """The DepositTotals fields over `records`; nothing is missing while no bank feed is connected."""

    def total(status: Status | None, amount: str) -> Decimal:
        return sum((getattr(r, amount) or ZERO for r in records if status is None or r.status == status), ZERO)

    # a duplicate names its payment's ERA again; a returned deposit is money the bank took back
    primaries = [r for r in records if r.status not in (Status.duplicate_deposit, Status.deposit_returned)]
    kept = [r for r in records if r.status != Status.deposit_returned]
    return {
        "era_amount": sum((r.era_amount or ZERO for r in primaries), ZERO),
        "deposit_amount": sum((r.deposit_amount or ZERO for r in kept), ZERO),
        "missing_amount": total(Status.era_without_deposit, "era_amount") if connected else ZERO,
        "unposted_amount": total(Status.deposit_without_era, "deposit_amount"),
        "mismatch_amount": total(Status.amount_mismatch, "difference"),
        "duplicate_amount": total(Status.duplicate_deposit, "deposit_amount"),
        "counts": dict(sorted(Counter(str(r.status) for r in records).items())),
    }


def positions(records: Iterable[Reassociation], as_of: dt.date | None) -> list[DepositPosition]:
    """One row per provider (null provider: money no ERA names), with its payers, sorted by provider."""
    by_provider: dict[str | None, list[Reassociation]] = defaultdict(list)
    for record in records:
        by_provider[record.provider_id].append(record)
    connected = feed_connected(r for rs in by_provider.values() for r in rs)
    return [
        position(provider, by_provider[provider], as_of, connected)
        for provider in sorted(by_provider, key=lambda p: p or "")
    ]


def position(
    provider_id: str | None, records: list[Reassociation], as_of: dt.date | None, connected: bool = True
) -> DepositPosition:
    """`connected`: whether any bank file has brought a deposit (`feed_connected` over every record)."""
    by_payer: dict[str | None, list[Reassociation]] = defaultdict(list)
    for record in records:
        by_payer[record.payer_id].append(record)
    items = Counter[str]()
    amounts: dict[str, Decimal] = defaultdict(Decimal)
    open_dates = []
    for record in records:
        since = started(record)
        if not counts_as_open(record, connected) or since is None:
            continue
        open_dates.append(since)
        bucket = AGE_BUCKETS[age_bucket(max(0, ((as_of or since) - since).days))][0]
        items[bucket] += 1
        amounts[bucket] += open_amount(record)
    order = [name for name, _, _ in AGE_BUCKETS]
    return DepositPosition(
        provider_id=provider_id,
        as_of=as_of,
        open_items_by_age={name: items[name] for name in order if items[name]},
        open_amount_by_age={name: amounts[name] for name in order if items[name]},
        oldest_open_item=min(open_dates, default=None),
        bank_feed_connected=connected,
        by_payer=[
            PayerDeposits(payer_id=payer, **totals(by_payer[payer], connected))
            for payer in sorted(by_payer, key=lambda p: p or "")
        ],
        **totals(records, connected),
    )
