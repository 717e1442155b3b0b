"""Re-issued remittances (rules §2): versions of one payment, of which a ledger holds the one generated last.

Two remittances that moved money with the same payer, TRN02, payee, BPR02 and BPR16 but different bodies are
one payment sent twice (a clearinghouse rebuilt the file, the payer re-sent it with an address or REF changed).
The payee is the same when the NPIs are, or, when a version names the payee by its TIN only (N103 = FI), when the
TINs are. A zero-pay remittance that repeats another's claims and PLB lines is a regenerated copy too (a reused
TRN02 with other claims is a separate remittance). The ledger keeps every version's facts (so any one re-delivered
is a duplicate), but derives takebacks and cash from the held version only; the replaced ones count their
remittance flags, and all carry `reissued`. Which one is held depends only on the versions, never on which arrived
first; the held one takes the payment's place in canonical order: where its first version was produced (rules §3).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal

from streams.domain.facts import RemittanceFacts

_NEVER = dt.datetime.min
_NO_DAY = dt.date.min


def version_key(facts: RemittanceFacts) -> tuple:
    """Rules §2: what versions of one remittance share, the payee aside (`same_payee`): payer, TRN02, BPR02 and
    BPR16, and for a remittance that moved no money its claims and PLB lines as well."""
    base: tuple = (facts.payer_id, facts.trace_number, facts.net_cash, facts.not_moved, facts.effective_date)
    if facts.moved_money:
        return base
    plbs = tuple((a.provider_id, a.reason_code, a.reference, a.amount) for a in facts.adjustments)
    return (*base, tuple(facts.claims), plbs)


def payment_key(facts: RemittanceFacts) -> tuple[str, str, Decimal, dt.date | None] | None:
    """Rules §2: payer, TRN02, BPR02 (signed) and BPR16 of a payment that moved money; None when none moved."""
    if not facts.moved_money:
        return None
    return (facts.payer_id, facts.trace_number, facts.net_cash, facts.effective_date)


def same_payee(a: RemittanceFacts, b: RemittanceFacts) -> bool:
    """Rules §2: the same payee: the same NPI when both name one, else the same TIN (REF*TJ, or N104 with FI)."""
    a_npi, b_npi = a.payee_npi, b.payee_npi
    if a_npi and b_npi:
        return a_npi == b_npi
    return bool(a.payee_tin) and a.payee_tin == b.payee_tin


def is_version(a: RemittanceFacts, b: RemittanceFacts) -> bool:
    """Are `a` and `b` versions of one remittance (rules §2)? Bodies aside: a same body is a duplicate."""
    return version_key(a) == version_key(b) and same_payee(a, b)


def is_reissue(facts: RemittanceFacts, same_trace: Iterable[RemittanceFacts]) -> bool:
    """Is `facts` another version of a remittance among those with its payer and TRN02?"""
    return any(is_version(facts, other) for other in same_trace)


def generation_key(facts: RemittanceFacts) -> tuple[dt.datetime, dt.datetime, dt.date, str, str]:
    """Which version is later: GS04+GS05, then ISA09+ISA10, then DTM*405 (else BPR16), then the body hash."""
    return (
        facts.generated_at or _NEVER,
        facts.interchange_generated_at or _NEVER,
        facts.takeback_date or _NO_DAY,
        facts.body_hash,
        facts.remittance_id,  # facts stored before body_hash was kept: still a fixed tie-break
    )


def version_groups(versions: list[RemittanceFacts]) -> list[list[RemittanceFacts]]:
    """The remittances of one payer and TRN02 grouped into versions of one remittance (groups of one included)."""
    groups: list[list[RemittanceFacts]] = []
    for facts in versions:
        group = next((g for g in groups if any(is_version(facts, other) for other in g)), None)
        if group is None:
            groups.append([facts])
        else:
            group.append(facts)
    return groups


def held_versions(
    remittances: Mapping[str, RemittanceFacts], trace_index: Mapping[str, list[str]]
) -> tuple[Iterable[RemittanceFacts], list[RemittanceFacts]]:
    """(the facts a ledger derives from, the replaced versions), each version flagged `reissued`.

    ``trace_index``: remittance ids by payer and TRN02; versions of one payment always share an entry, so a ledger
    without a reused TRN02 (nearly all of them) pays for one pass over its trace numbers only.
    """
    held: dict[str, RemittanceFacts] = {}
    replaced: list[RemittanceFacts] = []
    for ids in trace_index.values():
        if len(ids) < 2:
            continue
        for versions in version_groups([remittances[rid] for rid in ids]):
            if len(versions) > 1:
                latest, earlier = _hold(versions)
                held[latest.remittance_id] = latest
                replaced.extend(earlier)
    if not replaced:
        return remittances.values(), []
    skipped = {facts.remittance_id for facts in replaced}
    current = [held.get(rid, facts) for rid, facts in remittances.items() if rid not in skipped]
    return current, replaced


def _hold(versions: list[RemittanceFacts]) -> tuple[RemittanceFacts, list[RemittanceFacts]]:
    """(the held version, the replaced ones), flagged. The held one sorts where the payment was first produced (an
    ERA that took it back in between still comes after it, rules §3) and is booked to the NPI a version names
    when it names only the TIN (the payee's cash row is per NPI, rules §8)."""
    versions = sorted(versions, key=generation_key)
    *earlier, latest = versions
    first = min(versions, key=RemittanceFacts.order_key)
    named = [v for v in versions if v.payee_npi]
    payee = {"payee_ids": named[-1].payee_ids} if named else {}  # every version books to the NPI, flags too
    update: dict = {"flags": [*latest.flags, "reissued"], **payee}
    if first is not latest:
        update["production_date"] = first.production_date or first.takeback_date or first.effective_date
    held = latest.model_copy(update=update)
    return held, [v.model_copy(update={"flags": [*v.flags, "reissued"], **payee}) for v in earlier]
