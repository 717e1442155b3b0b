"""A remittance event reduced to the facts matching and cash need: what a ledger stores, once per remittance.

Facts are decoded from the `remittances` event (JSON) without a full pydantic validation of the
Remittance contract: ingest validated it when it made it (see `facts_from_json`).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel

from schemas import ZERO, Remittance
from streams.domain.canonical_order import OrderKey, order_key
from streams.domain.disbursement import moves_money, signed_amount, takeback_date
from streams.domain.reasons import reason_codes_of


@dataclass(slots=True)
class ClaimFact:
    """What the ledger needs to remember of one CLP (no patient data).

    A slotted dataclass, not a model: one is built per claim on the hot path, and it is much cheaper
    than `BaseModel.model_construct` (pydantic still validates and serializes it inside the ledger).
    """

    claim_id: str
    status_code: str
    payment: Decimal
    pcn: str | None = None
    original_reference: str | None = None  # REF*F8
    reason_codes: tuple[str, ...] = ()  # tuples: a million claims of state, and most have no flags
    line_level: bool = False
    flags: tuple[str, ...] = ()


class PlbFact(BaseModel):
    provider_id: str
    reason_code: str
    reference: str | None = None
    amount: Decimal


class RemittanceFacts(BaseModel):
    """One applied remittance, reduced to what matching and cash need."""

    remittance_id: str
    trace_number: str
    payer_id: str
    moved_money: bool
    net_cash: Decimal  # BPR02, negative for a debit
    effective_date: dt.date | None = None
    takeback_date: dt.date | None = None
    claims: list[ClaimFact] = []
    adjustments: list[PlbFact] = []
    published: list[str] = []  # takeback event ids this remittance created or revised
    flags: list[str] = []
    payee_ids: list[str] = []  # the payee's NPI and TIN: PLB01 naming either is the payee itself

    def order_key(self) -> OrderKey:
        """Canonical order: when the payment was produced, then trace, then id (streams/domain/canonical_order.py)."""
        return order_key(self.takeback_date or self.effective_date, self.trace_number, self.remittance_id)


class InvalidRemittance(ValueError):
    """A remittance event that does not have the shape of the Remittance contract."""


def facts_of(remittance: Remittance) -> RemittanceFacts:
    return facts_from_dict(remittance.model_dump(mode="json"))


def facts_from_json(data: bytes) -> tuple[RemittanceFacts, dict]:
    """Facts straight from a `remittances` event, skipping a full pydantic validation.

    Ingest validated the remittance when it made it; re-validating every claim here cost more
    than all the matching (docs/benchmarks.md). What the ledger reads is still checked: a
    malformed event raises InvalidRemittance and goes to the dead-letter topic.
    """
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise InvalidRemittance(f"the event is not JSON ({exc})") from None
    return facts_from_dict(document), document


def facts_from_dict(d: dict) -> RemittanceFacts:
    try:
        payment = d["payment"]
        amount = Decimal(payment["amount"])
        moved = moves_money(payment["handling_code"], amount)
        effective = _date(payment.get("effective_date"))
        payee = d["payee"]
        return RemittanceFacts.model_construct(
            remittance_id=str(d["remittance_id"]),
            trace_number=str(d["trace_number"]),
            payer_id=str(d["payer"]["id"]),
            moved_money=moved,
            net_cash=signed_amount(amount, payment.get("credit_debit")) if moved else ZERO,
            effective_date=effective,
            takeback_date=takeback_date(_date(d.get("production_date")), effective),
            claims=[_claim_fact(c) for c in d.get("claims") or []],
            adjustments=[_plb_fact(a) for a in d.get("provider_adjustments") or []],
            published=[],
            flags=list(d.get("flags") or []),
            payee_ids=[i for i in (payee["id"], payee.get("tin")) if i],
        )
    except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
        raise InvalidRemittance(f"the remittance event is malformed ({type(exc).__name__}: {exc})") from None


def _claim_fact(c: dict) -> ClaimFact:
    f8 = next((r["value"] for r in c.get("references") or [] if r.get("qualifier") == "F8"), None)
    return ClaimFact(
        claim_id=str(c["claim_id"]),
        status_code=sys.intern(str(c["status_code"])),  # a handful of values, a million claims
        payment=Decimal(c["payment"]),
        pcn=c.get("payer_claim_control_number"),
        original_reference=f8,
        reason_codes=tuple(sys.intern(code) for code in reason_codes_of(c)),
        line_level=bool(c.get("service_lines")),
        flags=tuple(c.get("flags") or ()),
    )


def _plb_fact(a: dict) -> PlbFact:
    return PlbFact.model_construct(
        provider_id=str(a["provider_id"]),
        reason_code=str(a["reason_code"]),
        reference=a.get("reference"),
        amount=Decimal(a["amount"]),
    )


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None
