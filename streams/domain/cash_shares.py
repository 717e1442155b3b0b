"""One NPI's net cash row from its ledgers' shares (rules §5, §8).

A ledger holds the NPIs of one TIN, and an ERA without a TIN goes to a ledger of its payee's own, so an NPI paid
under two TINs, or with and without one, has a row in each of those ledgers: its *shares*. Its net cash is their
sum. The cash agent, `replay` and the offline path all combine the latest share of each ledger with `combine_shares`.

Why the combined row's revision is the sum of the shares' revisions: a share's revision (its ledger's remittance
count) only grows, so the sum grows whenever any share does, and a consumer keeping the highest revision per NPI
keeps the newest combined row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TypeVar

from schemas import NetCashRow, PayerCash
from streams.domain.cash import AGE_BUCKETS, BUCKETS

__all__ = ["add_share", "combine_shares", "latest_share", "shares_from_json"]

T = TypeVar("T")
_AGE_ORDER = {label: position for position, (label, _, _) in enumerate(AGE_BUCKETS)}


def latest_share(current: NetCashRow | None, share: NetCashRow) -> NetCashRow:
    """Of two shares of one ledger, the one to keep: the higher revision (a redelivered older one changes nothing)."""
    return share if current is None or share.revision >= current.revision else current


def shares_from_json(stored: bytes | None) -> dict[str, NetCashRow]:
    """An NPI's shares as the cash agent stores them: {ledger key: share} in JSON."""
    if not stored:
        return {}
    return {key: NetCashRow.model_validate(share) for key, share in json.loads(stored).items()}


def add_share(stored: bytes | None, share: NetCashRow) -> tuple[bytes | None, NetCashRow]:
    """Take one share into an NPI's stored shares: what to store (None when it changes nothing: a redelivered or
    older share) and the row they combine to."""
    shares = shares_from_json(stored)
    key = share.ledger_key or share.provider_id  # a row from before ledger keys: the NPI's own ledger
    kept = latest_share(shares.get(key), share)
    changed = kept is share and shares.get(key) != share
    shares[key] = kept
    combined = combine_shares(shares.values())
    if not changed:
        return None, combined
    encoded = {k: shares[k].model_dump(mode="json") for k in sorted(shares)}
    return json.dumps(encoded, separators=(",", ":")).encode(), combined


def combine_shares(shares: Iterable[NetCashRow]) -> NetCashRow:
    """One NPI's row from the latest share of each of its ledgers (one share per ledger key).

    Money, counts and open balances by age add up (each share's ages are counted to its own ledger's last
    remittance date); the oldest open forward balance is the oldest, the last remittance date the latest. The row
    names the ledger with the most remittances (ties: the lowest key), the one that routes a request for its
    takebacks. A single share comes back unchanged.
    """
    ordered = sorted(shares, key=lambda s: s.ledger_key or s.provider_id)
    if not ordered:
        raise ValueError("no share to combine")
    npis = {s.provider_id for s in ordered}
    if len(npis) > 1:
        raise ValueError(f"shares of {len(npis)} providers cannot be combined")
    if len({s.ledger_key for s in ordered}) < len(ordered):
        raise ValueError("two shares of one ledger: keep the latest of each (latest_share)")
    main = min(ordered, key=lambda s: (-s.revision, s.ledger_key or ""))
    return NetCashRow(
        provider_id=main.provider_id,
        ledger_key=main.ledger_key,
        revision=sum(s.revision for s in ordered),
        **_money(ordered),
        takebacks_by_kind=_counts(s.takebacks_by_kind for s in ordered),
        takebacks_by_category=_counts(s.takebacks_by_category for s in ordered),
        oldest_open_forward_balance=min(_present(s.oldest_open_forward_balance for s in ordered), default=None),
        open_by_age=_by_age(s.open_by_age for s in ordered),
        flags=_counts(s.flags for s in ordered),
        last_remittance_date=max(_present(s.last_remittance_date for s in ordered), default=None),
        by_payer=_by_payer(ordered),
    )


def _money(rows: list) -> dict[str, Decimal]:
    """Each cash column (streams/domain/cash.py BUCKETS) summed; starting from the first row keeps its exponent."""
    return {bucket: _sum(getattr(r, bucket) for r in rows) for bucket in BUCKETS}


def _sum(amounts: Iterable[Decimal]) -> Decimal:
    values = list(amounts)
    total = values[0]
    for value in values[1:]:
        total += value
    return total


def _counts(dicts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for counts in dicts:
        for name, count in counts.items():
            total[name] = total.get(name, 0) + count
    return dict(sorted(total.items()))


def _by_age(dicts: Iterable[Mapping[str, Decimal]]) -> dict[str, Decimal]:
    """Per age bucket, in the order of AGE_BUCKETS (a label it does not know last)."""
    amounts: dict[str, list[Decimal]] = {}
    for by_age in dicts:
        for label, amount in by_age.items():
            amounts.setdefault(label, []).append(amount)
    labels = sorted(amounts, key=lambda label: (_AGE_ORDER.get(label, len(_AGE_ORDER)), label))
    return {label: _sum(amounts[label]) for label in labels}


def _by_payer(rows: list[NetCashRow]) -> list[PayerCash]:
    """Each payer's rows merged, in payer order (as a ledger writes them)."""
    payers: dict[str, list[PayerCash]] = {}
    for row in rows:
        for payer in row.by_payer:
            payers.setdefault(payer.payer_id, []).append(payer)
    return [
        PayerCash(payer_id=payer, **_money(parts), open_by_age=_by_age(p.open_by_age for p in parts))
        for payer, parts in sorted(payers.items())
    ]


def _present(values: Iterable[T | None]) -> list[T]:
    return [v for v in values if v is not None]
