"""A remittance event reduced to the facts matching and cash need: what a ledger stores, once per remittance.

Facts are decoded from the `remittances` event (JSON) without a full pydantic validation of the
Remittance contract: ingest validated it when it made it (see `facts_from_json`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from schemas import ZERO, Remittance
from streams.domain.canonical_order import REVERSAL_STATUS, OrderKey, order_key
from streams.domain.disbursement import moves_money, production_date, signed_amount, takeback_date
from streams.domain.ids import TIN_QUALIFIER, payee_tin
from streams.domain.reasons import reason_codes_of


@dataclass(slots=True)
class ClaimFact:
    """What the ledger needs to remember of one CLP (patient data only when ingest kept it).

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
    # Rules §3 and §8a: what links a correction (charge) and what a person needs to work a takeback. None or
    # interned values by default, so the hot path pays a slot each, not an object each.
    charge: str | None = None  # CLP03 as sent, a decimal string: half a Decimal's memory; see `claim_charge`
    patient_responsibility: Decimal | None = None  # CLP05
    service_dates: tuple[dt.date, dt.date] | None = None  # DTM*232/233 of the claim, else the lines' DTM*472
    frequency_code: str | None = None  # CLP09: 8 is a void the provider asked for (rules §6)
    patient: tuple[str | None, str | None] | None = None  # (name, member id): only when ingest kept patient data
    filing_indicator: str | None = None  # CLP06, interned: which kind of payer (rules §11: MA/MB are Medicare)

    def claim_charge(self) -> Decimal | None:
        return None if self.charge is None else Decimal(self.charge)


class PlbFact(BaseModel):
    provider_id: str
    reason_code: str
    reference: str | None = None
    amount: Decimal
    fiscal_date: dt.date | None = None  # PLB02 (rules §8a)


class RemittanceFacts(BaseModel):
    """One applied remittance, reduced to what matching and cash need."""

    remittance_id: str
    trace_number: str
    payer_id: str
    moved_money: bool
    net_cash: Decimal  # BPR02, negative for a debit, when money moved
    not_moved: Decimal = ZERO  # BPR02 of a remittance that moved no money (rules §7): net_cash + not_moved = BPR02
    unexplained: Decimal = ZERO  # BPR02 - (sum CLP04 - sum PLB) of an accepted unbalanced remittance (rules §7)
    effective_date: dt.date | None = None
    takeback_date: dt.date | None = None  # rules §5: DTM*405, else BPR16
    production_date: dt.date | None = None  # rules §3: DTM*405, else GS04 (what orders it)
    takes_back: bool | None = None  # rules §3: a claim reverses (CLP02 = 22): of one day, it sorts after payments
    # which version of a re-issued payment is later (rules §2, streams/domain/reissues.py)
    generated_at: dt.datetime | None = None  # GS04+GS05
    interchange_generated_at: dt.datetime | None = None  # ISA09+ISA10
    body_hash: str = ""
    payer_name: str | None = None  # N1*PR N102
    payee_name: str | None = None  # N1*PE N102: an organisation's name, not patient data (the pages show it)
    claims: list[ClaimFact] = []
    adjustments: list[PlbFact] = []
    published: list[str] = []  # takeback event ids this remittance created or revised
    flags: list[str] = []
    payee_ids: list[str] = []  # the payee's NPI and TIN: PLB01 naming either is the payee itself
    # rules §2: who the payee is, to tell versions of one payment apart from another payee's: N104 unless N103 = FI,
    # and the TIN without separators (REF*TJ, else N104 with FI); both None in facts stored before they were kept
    payee_npi_id: str | None = None
    payee_tin: str | None = None
    payee_state: str | None = None  # N4*N402 of the payee: its state's look-back limit (rules §11)

    @property
    def payee_id(self) -> str:
        """The payee (N104, else REF*TJ): whose cash row the remittance books (rules §5, §8)."""
        return self.payee_ids[0] if self.payee_ids else ""

    @property
    def payee_npi(self) -> str | None:
        """The payee's NPI (N104 unless it is a TIN); facts stored before it was kept: their payee id."""
        if self.payee_npi_id is None and self.payee_tin is None:
            return self.payee_id or None
        return self.payee_npi_id

    def order_key(self) -> OrderKey:
        """Canonical order (streams/domain/canonical_order.py): when the payment was produced, whether it takes back,
        trace, id."""
        # facts stored before production_date was kept: their takeback date, as they were ordered then
        day = self.production_date or self.takeback_date or self.effective_date
        takes_back = self.takes_back
        if takes_back is None:  # facts stored before it was kept
            takes_back = any(claim.status_code == REVERSAL_STATUS for claim in self.claims)
        return order_key(day, self.trace_number, self.remittance_id, takes_back)


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
        signed = signed_amount(amount, payment.get("credit_debit"))
        effective = _date(payment.get("effective_date"))
        payee = d["payee"]
        claims = [_claim_fact(c) for c in d.get("claims") or []]
        adjustments = [_plb_fact(a) for a in d.get("provider_adjustments") or []]
        flagged = list(d.get("flags") or [])
        return RemittanceFacts.model_construct(
            remittance_id=str(d["remittance_id"]),
            trace_number=str(d["trace_number"]),
            payer_id=str(d["payer"]["id"]),
            moved_money=moved,
            net_cash=signed if moved else ZERO,
            not_moved=ZERO if moved else signed,
            unexplained=_unexplained(signed, claims, adjustments) if "accepted_unbalanced" in flagged else ZERO,
            effective_date=effective,
            takeback_date=takeback_date(_date(d.get("production_date")), effective),
            production_date=production_date(_date(d.get("production_date")), _datetime(d.get("generated_at"))),
            takes_back=any(claim.status_code == REVERSAL_STATUS for claim in claims),
            generated_at=_datetime(d.get("generated_at")),
            interchange_generated_at=_datetime(d.get("interchange_generated_at")),
            body_hash=str(d.get("body_hash") or ""),
            payer_name=d["payer"].get("name"),
            payee_name=payee.get("name"),
            claims=claims,
            adjustments=adjustments,
            published=[],
            flags=flagged,
            payee_ids=[i for i in (payee["id"], payee.get("tin")) if i],
            payee_npi_id=None if payee.get("id_qualifier") == TIN_QUALIFIER else str(payee["id"]) or None,
            payee_tin=payee_tin(str(payee["id"]), payee.get("tin"), payee.get("id_qualifier")) or None,
            payee_state=payee.get("state"),
        )
    except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
        raise InvalidRemittance(f"the remittance event is malformed ({type(exc).__name__}: {exc})") from None


# How a ledger stores a ClaimFact (streams/domain/ledger_records.py): a JSON array of its fields in this order,
# not an object: a third of the bytes, and decoded here so the stored form shares strings and tuples as the
# event's does (a pydantic-decoded fact took half again the memory).
CLAIM_ROW_FIELDS = tuple(field.name for field in dataclasses.fields(ClaimFact))


def claim_row(fact: ClaimFact) -> list[object]:
    """A ClaimFact as a JSON-ready array, in CLAIM_ROW_FIELDS order (written out: this runs for every claim)."""
    responsibility, dates = fact.patient_responsibility, fact.service_dates
    return [
        fact.claim_id,
        fact.status_code,
        str(fact.payment),
        fact.pcn,
        fact.original_reference,
        fact.reason_codes,
        fact.line_level,
        fact.flags,
        fact.charge,
        None if responsibility is None else str(responsibility),
        None if dates is None else [dates[0].isoformat(), dates[1].isoformat()],
        fact.frequency_code,
        fact.patient,
        fact.filing_indicator,
    ]


def claim_from_row(row: list) -> ClaimFact:
    """The ClaimFact `claim_row` stored (InvalidRemittance when the array does not have its shape)."""
    try:
        if len(row) < len(CLAIM_ROW_FIELDS) and len(row) >= _FIRST_ROW_LENGTH:
            row = [*row, *([None] * (len(CLAIM_ROW_FIELDS) - len(row)))]  # stored before a field was added: its default
        values = zip(CLAIM_ROW_FIELDS, row, strict=True)
        return ClaimFact(**{name: _ROW_DECODERS.get(name, _as_is)(value) for name, value in values})
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise InvalidRemittance(f"a stored claim is malformed ({type(exc).__name__}: {exc})") from None


_FIRST_ROW_LENGTH = 13  # the fields a stored row has had from the start; later ones (CLP06) default to None


def _as_is(value: Any) -> Any:
    return value


def _unless_none(decode: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else decode(value)


# JSON value -> field value, sharing what the event's decoding shares (a field not named here is stored as it is)
_ROW_DECODERS: dict[str, Callable[[Any], Any]] = {
    "status_code": sys.intern,
    "payment": Decimal,
    "reason_codes": lambda codes: _shared(tuple(sys.intern(code) for code in codes)),
    "flags": tuple,
    "patient_responsibility": _unless_none(Decimal),
    "service_dates": _unless_none(lambda days: _period(*days)),
    "frequency_code": _unless_none(sys.intern),
    "patient": _unless_none(tuple),
    "filing_indicator": _unless_none(sys.intern),
}


def _claim_fact(c: dict) -> ClaimFact:
    f8 = next((r["value"] for r in c.get("references") or [] if r.get("qualifier") == "F8"), None)
    responsibility = c.get("patient_responsibility")
    frequency = c.get("frequency_code")
    filing = c.get("filing_indicator")
    patient = c.get("patient")
    return ClaimFact(
        claim_id=str(c["claim_id"]),
        status_code=sys.intern(str(c["status_code"])),  # a handful of values, a million claims
        payment=Decimal(c["payment"]),
        pcn=c.get("payer_claim_control_number"),
        original_reference=f8,
        reason_codes=_shared(tuple(sys.intern(code) for code in reason_codes_of(c))),
        line_level=bool(c.get("service_lines")),
        flags=tuple(c.get("flags") or ()),
        charge=str(c["total_charge"]),
        patient_responsibility=None if responsibility is None else Decimal(responsibility),
        service_dates=_service_dates(c),
        frequency_code=sys.intern(frequency) if frequency else None,
        patient=_patient(patient) if patient else None,
        filing_indicator=sys.intern(filing) if filing else None,  # a handful of codes, a million claims
    )


_LINE_SERVICE_DATES = frozenset({"472", "150", "151"})  # DTM*472 service date, 150/151 a line's period


def _service_dates(c: dict) -> tuple[dt.date, dt.date] | None:
    """Rules §8a: the claim's service period, from its own DTM*232/233, else the span of its lines' service dates.

    On the hot path (every claim): ISO dates compare as text, and each day is one shared object.
    """
    start = end = None
    for d in c.get("dates") or ():
        qualifier, day = d["qualifier"], d.get("date")
        if day and qualifier == "232":
            start = day
        elif day and qualifier == "233":
            end = day
    if start or end:
        return _period(start or end, end or start)
    for line in c.get("service_lines") or ():
        for d in line.get("dates") or ():
            day = d.get("date")
            if day and d["qualifier"] in _LINE_SERVICE_DATES:
                start = day if start is None or day < start else start
                end = day if end is None or day > end else end
    return _period(start, end) if start and end else None


# A few thousand service periods across a million claims (most are one day): one shared tuple each.
_PERIODS: dict[tuple[str, str], tuple[dt.date, dt.date]] = {}


def _period(start: str, end: str) -> tuple[dt.date, dt.date]:
    key = (start, end)
    period = _PERIODS.get(key)
    if period is None:
        if len(_PERIODS) > 50_000:
            _PERIODS.clear()
        period = _PERIODS[key] = (dt.date.fromisoformat(start), dt.date.fromisoformat(end))
    return period


# The reason codes of a million claims are a few hundred combinations: one shared tuple each.
_SHARED: dict[tuple[str, ...], tuple[str, ...]] = {}


def _shared(codes: tuple[str, ...]) -> tuple[str, ...]:
    found = _SHARED.get(codes)
    if found is None:
        if len(_SHARED) > 50_000:
            _SHARED.clear()
        found = _SHARED[codes] = codes
    return found


def _patient(p: dict) -> tuple[str | None, str | None] | None:
    """("LAST, FIRST", member id): present only when the operator turned patient data on at ingest."""
    name = ", ".join(n for n in (p.get("last_name"), p.get("first_name")) if n) or None
    return (name, p.get("member_id")) if name or p.get("member_id") else None


def _plb_fact(a: dict) -> PlbFact:
    return PlbFact.model_construct(
        provider_id=str(a["provider_id"]),
        reason_code=str(a["reason_code"]),
        reference=a.get("reference"),
        amount=Decimal(a["amount"]),
        fiscal_date=_date(a.get("fiscal_period_date")),
    )


def _unexplained(signed_payment: Decimal, claims: list[ClaimFact], adjustments: list[PlbFact]) -> Decimal:
    """Rules §7: what BPR02 holds beyond what its claims and PLB amounts explain (BPR02 = sum CLP04 - sum PLB)."""
    explained = sum((c.payment for c in claims), ZERO) - sum((a.amount for a in adjustments), ZERO)
    return signed_payment - explained


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _datetime(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None
