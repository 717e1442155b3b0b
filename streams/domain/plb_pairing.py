"""Which PLB amounts of one remittance offset each other (rules §4).

72 or B2 + WO/FB on one reference: the provider paid it by check (a refund; RFI 325, 758, and 1374 for
72 beside a forward balance). "One reference" is one resolved claim, or the same text when it resolves to none
(streams/domain/references.py): a member id both references carry does not pair them.
CS "payer write off" + WO: the payer forgave it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from schemas import ZERO
from streams.domain.facts import PlbFact
from streams.domain.plb_codes import CARRY_CODES, OFFSET_CODES, PAYER_WRITE_OFF, WRITE_OFF_WORDS
from streams.domain.references import ResolvedReference, reference_text


@dataclass
class AdjustmentPairs:
    """The pairs found, by position in the remittance's PLB amounts."""

    refunds: set[int] = field(default_factory=set)  # 72 or B2 that pays back a WO/FB: settled by refund
    write_offs: set[int] = field(default_factory=set)  # CS forgiving a WO
    partner_of: dict[int, int] = field(default_factory=dict)  # WO/FB position -> its 72/B2/CS position


def pair_adjustments(
    adjustments: list[PlbFact], references: Sequence[ResolvedReference] | None = None
) -> AdjustmentPairs:
    """Pair each positive WO or FB with a negative 72/B2 on the same reference (or a WO with a CS write-off).

    `references`: each adjustment's reference resolved to its claim; without them, references compare by text.
    """
    pairs = AdjustmentPairs()
    if references is None:
        references = [ResolvedReference(reference_text(a.reference)) for a in adjustments]
    offsets = [
        (i, a, references[i]) for i, a in enumerate(adjustments) if a.reason_code in OFFSET_CODES and a.amount < ZERO
    ]
    for i, adj in enumerate(adjustments):
        if adj.reason_code not in CARRY_CODES or adj.amount <= ZERO:
            continue
        reference = references[i]
        for j, other, other_reference in offsets:
            if j in pairs.refunds or j in pairs.write_offs:
                continue
            if other.reason_code == PAYER_WRITE_OFF:
                if adj.reason_code == "WO" and is_payer_write_off(other):  # "PAYER WRITE OFF" names no claim
                    pairs.write_offs.add(j)
                    pairs.partner_of[i] = j
                    break
            elif reference.same_as(other_reference):
                pairs.refunds.add(j)
                pairs.partner_of[i] = j
                break
    return pairs


def is_payer_write_off(adj: PlbFact) -> bool:
    reference = (adj.reference or "").upper()
    return any(word in reference for word in WRITE_OFF_WORDS)
