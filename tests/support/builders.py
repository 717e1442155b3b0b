"""Small builders for hand-written remittances in domain tests (no X12 text needed)."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

from schemas import (
    Adjustment,
    ClaimPayment,
    Payee,
    Payer,
    Payment,
    ProviderAdjustment,
    Reference,
    Remittance,
    SourceRef,
    Takeback,
)

PROVIDER = "1234567893"
PAYER = "1999999999"


def claim(
    claim_id: str,
    status: str,
    paid: str,
    *,
    charge: str | None = None,
    pcn: str | None = None,
    f8: str | None = None,
    cas: list[tuple[str, str, str]] | None = None,
) -> ClaimPayment:
    paid_amount = Decimal(paid)
    return ClaimPayment(
        claim_id=claim_id,
        status_code=status,
        total_charge=Decimal(charge) if charge else paid_amount,
        payment=paid_amount,
        payer_claim_control_number=pcn,
        references=[Reference(qualifier="F8", value=f8)] if f8 else [],
        adjustments=[Adjustment(group=g, reason=r, amount=Decimal(a)) for g, r, a in (cas or [])],
    )


def plb(code: str, amount: str, reference: str | None = None, provider: str = PROVIDER) -> ProviderAdjustment:
    return ProviderAdjustment(provider_id=provider, reason_code=code, reference=reference, amount=Decimal(amount))


def remittance(
    trace: str,
    date: str,
    claims: list[ClaimPayment] = (),  # type: ignore[assignment]
    adjustments: list[ProviderAdjustment] = (),  # type: ignore[assignment]
    *,
    handling: str | None = None,
    payer: str = PAYER,
    provider: str = PROVIDER,
    effective: str | None = None,
    tin: str | None = None,
) -> Remittance:
    """A balanced remittance: BPR02 = sum(CLP04) - sum(PLB amounts), produced on `date`, effective on `effective`."""
    amount = sum((c.payment for c in claims), Decimal("0")) - sum((a.amount for a in adjustments), Decimal("0"))
    day = dt.date.fromisoformat(date)
    body = f"{trace}|{date}|" + "|".join(c.model_dump_json() for c in claims) + str(list(adjustments))
    body_hash = hashlib.sha256(body.encode()).hexdigest()
    return Remittance(
        remittance_id=hashlib.sha256(f"{payer}|{trace}|{provider}|{body_hash}".encode()).hexdigest()[:32],
        body_hash=body_hash,
        source=SourceRef(file=f"{trace}.835", source_id=trace),
        payer=Payer(id=payer),
        payee=Payee(id=provider, id_qualifier="XX", tin=tin),
        payment=Payment(
            handling_code=handling or ("I" if amount > 0 else "H"),
            amount=amount,
            effective_date=dt.date.fromisoformat(effective) if effective else day,
        ),
        trace_number=trace,
        production_date=day,
        claims=list(claims),
        provider_adjustments=list(adjustments),
    )


def a_takeback(revision: int = 1, **changes: object) -> Takeback:
    """A takeback event with only its required fields (id `tb-1`), for tests of how events travel and are stored."""
    fields: dict[str, object] = dict(
        event_id="tb-1",
        revision=revision,
        kind="reversal",
        method="none",
        amount=Decimal("10.00"),
        provider_id=PROVIDER,
        payee_provider_id=PROVIDER,
        payer_id="1999999999",
        trace_number="T1",
        remittance_id="r1",
        reason_category="unknown",
    )
    return Takeback(**{**fields, **changes})
