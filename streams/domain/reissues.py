"""Re-issued remittances (rules §2): two versions of one payment, of which a ledger holds the one generated last.

Two remittances that moved money with the same payer, TRN02, payee, BPR02 and BPR16 but different bodies are
one payment sent twice (a clearinghouse rebuilt the file, the payer re-sent it with an address changed). The
ledger keeps both versions' facts (so either one re-delivered is a duplicate), but derives takebacks and cash
from the held version only; the replaced one counts its remittance flags, and both carry `reissued`. Which one
is held depends only on the versions, never on which arrived first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal

from streams.domain.facts import RemittanceFacts

_NEVER = dt.datetime.min
_NO_DAY = dt.date.min


def payment_key(facts: RemittanceFacts) -> tuple[str, str, str, Decimal, dt.date | None] | None:
    """Rules §2: payer, TRN02, payee, BPR02 (signed) and BPR16; None when no money moved."""
    if not facts.moved_money:
        return None  # zero-pay and not-moved remittances reusing a TRN02 are separate remittances
    return (facts.payer_id, facts.trace_number, facts.payee_id, facts.net_cash, facts.effective_date)


def generation_key(facts: RemittanceFacts) -> tuple[dt.datetime, dt.datetime, dt.date, str, str]:
    """Which version is later: GS04+GS05, then ISA09+ISA10, then DTM*405 (else BPR16), then the body hash."""
    return (
        facts.generated_at or _NEVER,
        facts.interchange_generated_at or _NEVER,
        facts.takeback_date or _NO_DAY,
        facts.body_hash,
        facts.remittance_id,  # facts stored before body_hash was kept: still a fixed tie-break
    )


def is_reissue(facts: RemittanceFacts, same_trace: Iterable[RemittanceFacts]) -> bool:
    """Is `facts` another version of a payment among the remittances with its payer and TRN02?"""
    key = payment_key(facts)
    return key is not None and any(payment_key(other) == key for other in same_trace)


def held_versions(
    remittances: Mapping[str, RemittanceFacts], trace_index: Mapping[str, list[str]]
) -> tuple[Iterable[RemittanceFacts], list[RemittanceFacts]]:
    """(the facts a ledger derives from, the replaced versions), each version flagged `reissued`.

    ``trace_index``: remittance ids by payer, TRN02 and payee; versions of one payment always share an entry, so a
    ledger without a reused TRN02 (nearly all of them) pays for one pass over its trace numbers only.
    """
    groups: dict[tuple, list[RemittanceFacts]] = {}
    for ids in trace_index.values():
        if len(ids) > 1:
            for rid in ids:
                facts = remittances[rid]
                key = payment_key(facts)
                if key is not None:
                    groups.setdefault(key, []).append(facts)
    held: dict[str, RemittanceFacts] = {}
    replaced: list[RemittanceFacts] = []
    for versions in groups.values():
        if len(versions) < 2:
            continue
        versions.sort(key=generation_key)
        *earlier, latest = (v.model_copy(update={"flags": [*v.flags, "reissued"]}) for v in versions)
        held[latest.remittance_id] = latest
        replaced.extend(earlier)
    if not replaced:
        return remittances.values(), []
    skipped = {facts.remittance_id for facts in replaced}
    current = [held.get(rid, facts) for rid, facts in remittances.items() if rid not in skipped]
    return current, replaced
