"""The fields a person needs to work a takeback (rules §8a), from the facts the ledger keeps.

The original payment's amount and the days until it was taken back; the claim's service dates and charge; for a
PLB recovery its fiscal date; the patient only when ingest kept patient data. (The payer's name is set where the
takeback is built.)
"""

from __future__ import annotations

from decimal import Decimal

from schemas import ZERO
from streams.domain.claim_index import PaymentRecord, original_fields
from streams.domain.facts import ClaimFact, PlbFact, RemittanceFacts


def reversal_fields(facts: RemittanceFacts, reversal: ClaimFact, original: PaymentRecord | None) -> dict:
    """A claim reversal's fields: the original's where it is known, else what the reversal repeats (negated)."""
    claim = original.claim if original else None
    charge = claim.claim_charge() if claim and claim.charge is not None else _negated(reversal.claim_charge())
    return {
        **_payment_fields(facts, original),
        "service_date_from": _dates(reversal, claim)[0],
        "service_date_to": _dates(reversal, claim)[1],
        "claim_charge": charge,
        **_patient_fields(reversal.patient or (claim.patient if claim else None)),
    }


def recovery_fields(facts: RemittanceFacts, adjustment: PlbFact, linked: PaymentRecord | None) -> dict:
    """A PLB recovery's fields: the claim its reference resolves to, and PLB02."""
    claim = linked.claim if linked else None
    dates = claim.service_dates if claim and claim.service_dates else (None, None)
    return {
        **_payment_fields(facts, linked),
        "service_date_from": dates[0],
        "service_date_to": dates[1],
        "claim_charge": claim.claim_charge() if claim else None,
        "plb_fiscal_date": adjustment.fiscal_date,
        **_patient_fields(claim.patient if claim else None),
    }


def correction_fields(correction: ClaimFact, original_patient_responsibility: Decimal | None) -> dict:
    """What the correction changed: its CLP07, and the patient's share (CLP05, empty counting as 0)."""
    return {
        "correction_payer_claim_control_number": correction.pcn,
        "patient_responsibility_change": (correction.patient_responsibility or ZERO)
        - (original_patient_responsibility or ZERO),
    }


def original_patient_responsibility(reversal: ClaimFact, original: PaymentRecord | None) -> Decimal | None:
    if original is not None:
        return original.claim.patient_responsibility
    return _negated(reversal.patient_responsibility)


def _payment_fields(facts: RemittanceFacts, original: PaymentRecord | None) -> dict:
    paid = original.remittance if original else None
    days = None
    if paid and paid.effective_date and facts.takeback_date:
        days = (facts.takeback_date - paid.effective_date).days
    return {
        **original_fields(original),
        "original_payment_amount": original.claim.payment if original else None,
        "days_to_takeback": days,
    }


def _dates(reversal: ClaimFact, original: ClaimFact | None) -> tuple:
    return reversal.service_dates or (original.service_dates if original else None) or (None, None)


def _patient_fields(patient: tuple[str | None, str | None] | None) -> dict:
    return {"patient_name": patient[0], "member_id": patient[1]} if patient else {}


def _negated(amount: Decimal | None) -> Decimal | None:
    return None if amount is None else -amount
