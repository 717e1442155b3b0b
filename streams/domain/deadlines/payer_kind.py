"""Which kind of payer took the money back (rules §11): Medicare's clocks differ from a commercial payer's.

The operator's payer profile says it first. Without one, the claim filing indicator the payer itself sends on
each claim (CLP06: MA and MB are Medicare Part A and B, MC Medicaid) recognises Medicare contractors without any
configuration; its codes map to kinds in data/claim_filing_indicators.csv. Nothing else is guessed: an unknown
payer has no kind, and so no deadline.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from streams.domain.deadlines.rule_tables import PayerKind, PayerProfile, RuleBook


@dataclass(frozen=True)
class KindFound:
    kind: PayerKind | None
    how: str  # "payer profile", "claim filing indicator CLP06 = MB", or "unknown payer"
    profile: PayerProfile | None = None


def payer_kind_of(payer_ids: Iterable[str], filing_indicators: Iterable[str | None], book: RuleBook) -> KindFound:
    """The kind of the payer named by any of `payer_ids` (TRN03, REF*2U), else the one its claims' CLP06 say."""
    for payer_id in payer_ids:
        profile = book.profiles.get(payer_id)
        if profile is not None:
            return KindFound(profile.kind, "payer profile", profile)
    for code in filing_indicators:
        kind = book.filing_kinds.get(code or "")
        if kind is not None:
            return KindFound(kind, f"claim filing indicator CLP06 = {code}")
    return KindFound(None, "unknown payer")
