"""The event contracts Takeback reads and writes.

Downstream services code against these models (and the JSON Schema exported
from them into ``schemas/json/``).  Conventions:

* Money is ``Decimal`` and travels as a decimal string (``"123.45"``), never a
  float.  Pydantic v2 already serializes ``Decimal`` as a string in JSON mode;
  ``Money`` also accepts numbers on input for convenience.
* Dates are ISO dates (``YYYY-MM-DD``).
* Patient data (names, member ids, dates of birth) is left out unless the
  operator turns it on (``ClaimPayment.patient``); no consumer of takebacks
  needs it to act.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

Money = Annotated[
    Decimal,
    PlainSerializer(lambda value: format(value, "f"), return_type=str, when_used="json"),
    Field(description="Amount in US dollars, as a decimal string."),
]

ZERO = Decimal("0")  # the one zero amount of the project (schemas cannot import streams, so it lives here)

REVERSAL_STATUS = "22"  # CLP02 of a claim reversal (rules §3)


class Event(BaseModel):
    """Base of every event: strict about unknown fields so contract drift is caught."""

    model_config = ConfigDict(extra="forbid", frozen=False, use_enum_values=True)


# --------------------------------------------------------------------------- where


class SourceRef(Event):
    """Where an input came from: a file position or a topic position."""

    file: str | None = Field(None, description="File name as published by the feed.")
    source_id: str | None = Field(None, description="Id of the published input (one per file publish).")
    byte_offset: int | None = Field(None, description="Byte offset of the segment in the file.")
    segment_number: int | None = Field(None, description="1-based segment number in the file.")
    segment_tag: str | None = None
    line: int | None = Field(None, description="1-based line (record) number in a bank deposit file.")
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None


# --------------------------------------------------------------------------- 835 content


class Adjustment(Event):
    """One CAS adjustment (group code, CARC, amount)."""

    group: str
    reason: str
    amount: Money
    quantity: Decimal | None = None


class Reference(Event):
    """One REF segment: qualifier and value."""

    qualifier: str
    value: str


class DateRef(Event):
    """One DTM segment: qualifier and date (None when the date is malformed)."""

    qualifier: str
    date: dt.date | None


class AmountRef(Event):
    """One AMT segment (informational amounts, not part of balancing)."""

    qualifier: str
    amount: Money


class ServiceLine(Event):
    """One SVC loop (2110)."""

    procedure: str = Field(description="SVC01 composite as sent, components joined by ':'.")
    charge: Money
    payment: Money
    revenue_code: str | None = None
    units: Decimal | None = None
    adjustments: list[Adjustment] = []
    references: list[Reference] = []
    dates: list[DateRef] = []
    amounts: list[AmountRef] = []
    remark_codes: list[str] = Field([], description="RARCs from LQ*HE.")


class Patient(Event):
    """Patient identity (PHI). Only filled when the operator enables patient data."""

    last_name: str | None = None
    first_name: str | None = None
    member_id: str | None = None


class ClaimPayment(Event):
    """One CLP loop (2100) with its adjustments and service lines."""

    claim_id: str = Field(description="CLP01, the provider's patient control number.")
    status_code: str = Field(description="CLP02: 1/2/3/19/20/21 processed, 4 denied, 22 reversal, ...")
    total_charge: Money
    payment: Money
    patient_responsibility: Money | None = None
    filing_indicator: str | None = None
    payer_claim_control_number: str | None = Field(None, description="CLP07 (ICN/DCN).")
    facility_code: str | None = None
    frequency_code: str | None = None
    adjustments: list[Adjustment] = []
    references: list[Reference] = []
    dates: list[DateRef] = []
    amounts: list[AmountRef] = []
    remark_codes: list[str] = Field([], description="RARCs from MIA/MOA.")
    service_lines: list[ServiceLine] = []
    patient: Patient | None = None
    flags: list[str] = Field([], description="e.g. 'claim_unbalanced'.")

    @property
    def is_reversal(self) -> bool:
        return self.status_code == REVERSAL_STATUS

    def reference(self, qualifier: str) -> str | None:
        return next((r.value for r in self.references if r.qualifier == qualifier), None)


class ProviderAdjustment(Event):
    """One PLB reason/reference/amount triplet. Positive amounts decrease the payment."""

    provider_id: str = Field(description="PLB01: the provider the adjustment applies to.")
    fiscal_period_date: dt.date | None = None
    reason_code: str = Field(description="PLB03-1, e.g. WO, FB, L6, 72, CS.")
    reference: str | None = Field(None, description="PLB03-2, e.g. an ICN, CLP01 or TRN02.")
    amount: Money


class Payer(Event):
    id: str = Field(description="TRN03 (1 + EIN), else N1*PR N104 or REF*2U.")
    name: str | None = None


class Payee(Event):
    id: str = Field(description="N1*PE N104 (NPI with XX, TIN with FI).")
    id_qualifier: str | None = None
    name: str | None = None
    tin: str | None = Field(None, description="REF*TJ.")
    state: str | None = Field(None, description="N4*N402 of the payee's N1*PE loop: its state (rules §11 look-back).")


class Payment(Event):
    """BPR: how much money moved, how and when."""

    handling_code: str = Field(description="BPR01: C, D, H, I, P, U, X.")
    amount: Money = Field(description="BPR02, never negative.")
    credit_debit: str = Field("C", description="BPR03: C credit, D debit.")
    method: str | None = Field(None, description="BPR04: ACH, CHK, NON, ...")
    effective_date: dt.date | None = Field(None, description="BPR16.")


class Remittance(Event):
    """One ST/SE 835 transaction set: one payment (or non-payment) from one payer to one payee."""

    remittance_id: str = Field(description="Deterministic id from identity (rules §2) and body hash.")
    body_hash: str = Field(description="SHA-256 of the ST/SE body without envelope control numbers.")
    source: SourceRef
    sequence: int = Field(0, description="0-based index of this remittance among those read from its input.")
    x12_version: str | None = Field(None, description="'4010', '5010' or the raw GS08/ISA12 when unknown.")
    payer: Payer
    payee: Payee
    payment: Payment
    trace_number: str = Field(description="TRN02, the check or EFT number.")
    production_date: dt.date | None = Field(None, description="DTM*405.")
    generated_at: dt.datetime | None = Field(
        None, description="GS04+GS05: when the sender built the functional group (which re-issued version is later)."
    )
    interchange_generated_at: dt.datetime | None = Field(
        None, description="ISA09+ISA10: when the sender built the interchange (the next tie-break, rules §2)."
    )
    claims: list[ClaimPayment] = []
    provider_adjustments: list[ProviderAdjustment] = []
    flags: list[str] = []
    published_at: float | None = Field(None, description="Unix time the feed published the input (latency).")

    @property
    def provider_id(self) -> str:
        return self.payee.id


# --------------------------------------------------------------------------- outputs


class TakebackKind(StrEnum):
    reversal = "reversal"
    recoupment = "recoupment"


class TakebackMethod(StrEnum):
    offset = "offset"
    refund = "refund"
    none = "none"


class ReasonCategory(StrEnum):
    duplicate = "duplicate"
    eligibility = "eligibility"
    coordination_of_benefits = "coordination_of_benefits"
    coding_or_billing_error = "coding_or_billing_error"
    authorization = "authorization"
    medical_necessity = "medical_necessity"
    timely_filing = "timely_filing"
    overpayment_recovery = "overpayment_recovery"
    payer_correction = "payer_correction"
    provider_void = "provider_void"
    unknown = "unknown"


class TakebackStatus(StrEnum):
    """Where a takeback stands for the person who works it (rules §8a)."""

    needs_review = "needs_review"  # no original found, no correction past the wait, or a PLB naming no known claim
    open = "open"  # carried as a forward balance or a deferred recovery: `remaining` is still owed
    settled = "settled"  # offset in full or refunded: `settled_by` says how
    withdrawn = "withdrawn"  # later facts showed it was not a takeback


class Settlement(Event):
    """One payment that settled (part of) a takeback: an offset in a later payment, or a refund by check."""

    method: TakebackMethod
    amount: Money
    trace_number: str | None = Field(None, description="TRN02 of the payment that carried the settlement.")
    remittance_id: str | None = None
    date: dt.date | None = Field(None, description="DTM*405 (else BPR16) of that payment.")
    plb_reason_code: str | None = Field(None, description="The PLB code that settled it (WO, FB, 72, B2, CS).")


class RuleSource(Event):
    """Where a rule comes from (rules §11): its citation, a link (empty for an operator's contract) and when it was
    checked."""

    citation: str
    url: str = ""
    checked_on: dt.date | None = None


class TakebackDeadline(Event):
    """One clock a takeback starts (rules §11): what a person may do, by which day, and the rule that says so."""

    deadline_kind: str = Field(description="e.g. medicare_stop_recoupment, medicare_offset, dispute_notice.")
    act_by: dt.date
    day: int = Field(description="Day N, counting day 1 (day_one) as 1.")
    description: str
    source: RuleSource


class Lookback(Event):
    """A state's look-back limit checked against a recoupment (rules §11): 'may be beyond', never legal advice."""

    outcome: Literal[
        "inside", "beyond", "no_limit", "no_limit_on_file", "state_unknown", "not_commercial", "dates_unknown"
    ]
    state: str | None = Field(None, description="The provider's state (operator's provider file, else the N4).")
    limit: str | None = Field(None, description="e.g. '12 months', '365 days', 'no limit'.")
    last_day_allowed: dt.date | None = Field(None, description="The original payment's date plus the limit.")
    source: RuleSource | None = None


class Takeback(Event):
    """A payer taking back money it reported as paid.

    Consumers upsert by ``event_id``: the same takeback is re-emitted with a
    higher ``revision`` when new facts arrive (its original, its correction);
    ``kind`` may change between revisions.
    """

    event_id: str = Field(description="Deterministic: the same takeback always gets the same id.")
    revision: int = Field(1, ge=1)
    kind: TakebackKind
    method: TakebackMethod
    amount: Money = Field(description="Positive: how much was taken back.")
    provider_id: str = Field(description="The provider the takeback is attributed to.")
    payee_provider_id: str = Field(description="The payee of the remittance carrying the takeback.")
    payer_id: str
    claim_id: str | None = Field(None, description="CLP01 of the claim taken back, when known.")
    payer_claim_control_number: str | None = None
    original_trace_number: str | None = Field(None, description="TRN02 of the payment taken back.")
    original_remittance_id: str | None = None
    original_effective_date: dt.date | None = None
    trace_number: str = Field(description="TRN02 of the payment carrying the takeback.")
    remittance_id: str
    takeback_date: dt.date | None = Field(None, description="DTM*405 (else BPR16) of the carrying payment.")
    plb_reason_code: str | None = None
    plb_reference: str | None = None
    reason_codes: list[str] = Field([], description="CAS group-CARC (e.g. 'CO-18'), RARCs, PLB code.")
    reason_category: ReasonCategory
    correction_claim_id: str | None = None
    correction_payment: Money | None = None
    net_change: Money | None = Field(None, description="Correction paid - original paid.")
    flags: list[str] = []
    withdrawn: bool = Field(
        False, description="True when later facts showed this was not a takeback (e.g. it settles a carried balance)."
    )
    # What a person needs to work the takeback (rules §8a); null where the facts do not say.
    status: TakebackStatus | None = Field(None, description="Kept current by revisions (rules §8a).")
    remaining: Money | None = Field(None, description="Still owed, while the status is open.")
    settled_by: list[Settlement] = Field([], description="What settled it, oldest first.")
    refund_excess: Money | None = Field(
        None,
        description="What a 72/B2 paired with it paid beyond it (flag refund_exceeds_recovery): never a refund of it.",
    )
    original_payment_amount: Money | None = Field(None, description="CLP04 of the original payment.")
    days_to_takeback: int | None = Field(None, description="Days from the original payment's date to takeback_date.")
    service_date_from: dt.date | None = None
    service_date_to: dt.date | None = None
    claim_charge: Money | None = Field(None, description="CLP03 of the original claim.")
    patient_responsibility_change: Money | None = Field(
        None, description="CLP05 of the correction - CLP05 of the original, when a correction exists."
    )
    correction_payer_claim_control_number: str | None = Field(None, description="CLP07 of the correction.")
    payer_name: str | None = Field(None, description="N1*PR N102.")
    plb_fiscal_date: dt.date | None = Field(None, description="PLB02, the fiscal period date of a PLB recovery.")
    patient_name: str | None = Field(None, description="PHI: only when TAKEBACK_INCLUDE_PATIENT_DATA is on.")
    member_id: str | None = Field(None, description="PHI: only when TAKEBACK_INCLUDE_PATIENT_DATA is on.")
    # What a person must act on, and by when (rules §11, §13): from the facts alone, never from a clock.
    payer_kind: Literal["medicare", "medicaid", "commercial", "other"] | None = Field(
        None, description="Null for an unknown payer: then there is no deadline (payer_kind_found_by says so)."
    )
    payer_kind_found_by: str | None = Field(
        None, description="'payer profile', 'claim filing indicator CLP06 = MB', or 'unknown payer'."
    )
    day_one: dt.date | None = Field(
        None, description="Day 1 of the clocks: the day the overpayment first appeared on an 835 (takeback_date)."
    )
    act_by: dt.date | None = Field(None, description="The earliest clock of `deadlines`; null when there is none.")
    deadline_kind: str | None = Field(None, description="The kind of that clock.")
    deadline_source: RuleSource | None = Field(None, description="The rule behind that clock.")
    deadlines: list[TakebackDeadline] = Field(
        [], description="Every clock still relevant, earliest first: a settled takeback keeps its appeal clocks only."
    )
    lookback: Lookback | None = Field(None, description="The state look-back check of a recoupment (rules §11).")
    recovered_twice_excess: Money | None = Field(
        None, description="With flag recovered_twice: what the payer took back beyond what it owed (rules §13)."
    )
    recovered_twice_ids: list[str] = Field(
        [], description="With flag recovered_twice: the event ids of every recovery of the claim, oldest first."
    )


OPEN_AGE_DESCRIPTION = (
    "Balances still carried (negative FB, deferred WO) by age in days from the payment that opened them to the "
    "provider's last remittance date: '0-30', '31-60', '61-90', '91-120', 'over-120' (rules §8a)."
)
NOT_MOVED = (
    "What remittances whose BPR01 says no money moved (H, P) reported as paid (BPR02): not in net_cash (rules §7)."
)
UNEXPLAINED = (
    "BPR02 minus what the claims and PLB amounts explain, of unbalanced remittances a person accepted (rules §7)."
)


class PayerCash(Event):
    payer_id: str
    net_cash: Money = ZERO
    claim_payments: Money = ZERO
    reversed: Money = ZERO
    recouped: Money = ZERO
    forward_balance: Money = ZERO
    refunds: Money = ZERO
    other_adjustments: Money = ZERO
    not_moved: Money = Field(ZERO, description=NOT_MOVED)
    unexplained: Money = Field(ZERO, description=UNEXPLAINED)
    open_by_age: dict[str, Money] = Field({}, description=OPEN_AGE_DESCRIPTION)


class NetCashRow(Event):
    """Where a provider stands (rules §8), with a per-payer breakdown.

    Invariant: net_cash = claim_payments - reversed - recouped + forward_balance
    + refunds + other_adjustments - not_moved + unexplained.
    """

    provider_id: str
    ledger_key: str | None = Field(
        None,
        description="The ledger that holds this provider's remittances: `tin-` and a hash of the payee's TIN when its "
        "ERAs give one (the NPIs of one TIN share a ledger, rules §5), else the provider id.",
    )
    revision: int = Field(
        0,
        description="Number of remittances applied to the provider's ledgers: an NPI paid under several TINs, or "
        "with and without one, has a ledger each (rules §5), and its row is the sum of their shares.",
    )
    net_cash: Money = ZERO
    claim_payments: Money = ZERO
    reversed: Money = ZERO
    recouped: Money = ZERO
    forward_balance: Money = ZERO
    refunds: Money = ZERO
    other_adjustments: Money = ZERO
    not_moved: Money = Field(ZERO, description=NOT_MOVED)
    unexplained: Money = Field(ZERO, description=UNEXPLAINED)
    takebacks_by_kind: dict[str, int] = {}
    takebacks_by_category: dict[str, int] = {}
    flags: dict[str, int] = Field(
        {}, description="How many remittances/claims carried each flag (e.g. reused_trace_number, claim_unbalanced)."
    )
    oldest_open_forward_balance: dt.date | None = None
    open_by_age: dict[str, Money] = Field({}, description=OPEN_AGE_DESCRIPTION)
    last_remittance_date: dt.date | None = None
    by_payer: list[PayerCash] = []


class DeadLetter(Event):
    """An input that could not be applied, with enough to fix and replay it."""

    dead_letter_id: str
    stage: Literal["ingest", "matching"]
    error_code: str = Field(description="Stable machine code, e.g. 'unbalanced_remittance'.")
    message: str = Field(description="What is wrong, for a billing person. Never holds patient data.")
    source: SourceRef
    raw: str | None = Field(None, description="The rejected input (an ST/SE, a file or an event), latin-1 text.")


class Receipt(Event):
    """Progress of one input through the pipeline (lets `replay` and ops know when work is done).

    ``ingested``: one per published input, with how many remittances and dead
    letters it produced.  ``processed``: one per remittance handled by the
    matching agent, with its outcome and how many takeback events it emitted.
    """

    stage: Literal["ingested", "processed"]
    source_id: str
    file: str | None = None
    remittances: int = 0
    dead_letters: int = 0
    sequence: int | None = Field(None, description="Index of the remittance within its input (processed).")
    remittance_id: str | None = None
    provider_id: str | None = None
    outcome: Literal["applied", "duplicate", "dead_letter"] | None = None
    takeback_events: int = 0
    takeback_revisions: dict[str, int] = Field({}, description="event_id -> revision of each takeback published.")
    cash_revision: int | None = Field(
        None, description="The revision of the provider's share of its cash row in the ledger that applied it."
    )
    ledger_key: str | None = Field(
        None,
        description="The ledger that applied the remittance (as `net_cash_row.ledger_key`); with `provider_id` and "
        "`cash_revision` it names the cash share `replay` waits for.",
    )


# --------------------------------------------------------------------------- deposits (rules §10)


class Deposit(Event):
    """Money a bank file says arrived: one NACHA CCD+ entry or one BAI2 detail (rules §10).

    ``trace_number`` and ``payer_id`` come from the TRN reassociation string the payer put in the
    ACH addenda (``TRN*1*<TRN02>*<TRN03>\\``); a check deposit carries ``check_number`` instead.
    """

    deposit_id: str = Field(description="Deterministic: the same bank entry read again gets the same id.")
    source: SourceRef
    format: Literal["nacha", "bai2"]
    method: Literal["ACH", "CHK"] = Field("ACH", description="ACH credit, or a check deposited at the bank.")
    amount: Money = Field(
        description="Signed, as the account moved: positive for a credit, negative for a debit or a returned credit."
    )
    trace_number: str | None = Field(None, description="TRN02 from the addenda: the EFT number of the ERA.")
    payer_id: str | None = Field(None, description="TRN03 from the addenda: 1 + the payer's EIN.")
    check_number: str | None = Field(None, description="For a check deposit: the check number the bank reports.")
    effective_date: dt.date | None = Field(None, description="NACHA effective entry date (pairs with BPR16).")
    settlement_date: dt.date | None = Field(None, description="NACHA settlement date, or the BAI2 as-of/value date.")
    bank_reference: str | None = Field(None, description="NACHA entry trace number, or the BAI2 bank reference.")
    receiver_id: str | None = Field(None, description="NACHA receiver identification number (often the TIN).")
    account_last4: str | None = Field(None, description="Last four characters of the credited account.")
    description: str | None = Field(None, description="NACHA company entry description, or the BAI2 type code.")
    flags: list[str] = Field([], description="e.g. 'batch_totals_mismatch', 'no_trn'.")
    return_reason: str | None = Field(None, description="A NACHA return (addenda 99): its R-code, e.g. 'R01'.")
    returned_trace: str | None = Field(
        None, description="A NACHA return: the trace number of the entry it returns (that deposit's bank_reference)."
    )

    @property
    def is_return(self) -> bool:
        return self.returned_trace is not None

    @property
    def deposit_date(self) -> dt.date | None:
        """When the money was there: the settlement date, else the effective date."""
        return self.settlement_date or self.effective_date


class ReassociationStatus(StrEnum):
    """Where an ERA and its money stand (rules §10)."""

    matched = "matched"  # same trace and payer, same amount
    amount_mismatch = "amount_mismatch"  # same trace and payer, different amount: `difference` says by how much
    era_without_deposit = "era_without_deposit"  # no money N business days after BPR16
    deposit_without_era = "deposit_without_era"  # money, and no ERA N business days after it arrived
    duplicate_deposit = "duplicate_deposit"  # a second bank entry for a payment already deposited
    awaiting_deposit = "awaiting_deposit"  # an ERA whose money is not due yet
    awaiting_era = "awaiting_era"  # money whose ERA is not due yet
    deposit_returned = "deposit_returned"  # a credit the bank returned (NACHA R-code): it no longer pays the ERA


class Reassociation(Event):
    """One ERA payment and the money for it in the bank (rules §10). Consumers upsert by ``event_id``.

    ``difference`` is deposit minus ERA; ``explained_by`` names the takebacks of the remittance whose
    amounts account for it, when some do.
    """

    event_id: str = Field(description="Deterministic: from the payer and trace (and the deposit, for a duplicate).")
    revision: int = Field(1, ge=1)
    status: ReassociationStatus
    payment_method: Literal["ACH", "CHK"] = "ACH"
    provider_id: str | None = Field(None, description="The ERA's payee; null while no ERA is known.")
    payer_id: str | None = Field(None, description="TRN03.")
    trace_number: str | None = Field(None, description="TRN02: the EFT or check number.")
    remittance_id: str | None = Field(None, description="The ERA's remittance (the first, when several share it).")
    remittance_ids: list[str] = Field([], description="Every remittance carrying this payer and trace.")
    deposit_id: str | None = Field(None, description="Null for an ERA without deposit.")
    era_amount: Money | None = Field(None, description="BPR02 (summed over the ERAs of one payment).")
    deposit_amount: Money | None = None
    difference: Money | None = Field(None, description="deposit_amount - era_amount.")
    effective_date: dt.date | None = Field(None, description="BPR16.")
    deposit_date: dt.date | None = Field(None, description="Settlement date, else effective entry date.")
    due_date: dt.date | None = Field(None, description="When the missing side becomes overdue (business days).")
    explained_by: list[str] = Field([], description="event_ids of takebacks whose amounts make up the difference.")
    deposit_source: SourceRef | None = Field(None, description="File and line of the deposit.")
    flags: list[str] = Field([], description="e.g. 'date_outside_window', 'split_era'.")
    return_reason: str | None = Field(None, description="For deposit_returned: the return's R-code.")


class DepositTotals(Event):
    """Money per ERAs against money per bank (rules §10): the part a provider row and its payer rows share."""

    era_amount: Money = Field(ZERO, description="What the ERAs announced (payments that expect a deposit).")
    deposit_amount: Money = Field(
        ZERO, description="What the bank moved, signed (duplicates included, returned credits not)."
    )
    missing_amount: Money = Field(ZERO, description="Announced and not arrived after the wait (era_without_deposit).")
    unposted_amount: Money = Field(ZERO, description="Arrived with no ERA after the wait (deposit_without_era).")
    mismatch_amount: Money = Field(ZERO, description="Sum of deposit - ERA over amount mismatches.")
    duplicate_amount: Money = Field(ZERO, description="Extra deposits for payments already deposited.")
    counts: dict[str, int] = Field({}, description="Records by status.")


class PayerDeposits(DepositTotals):
    """One provider's money with one payer."""

    payer_id: str | None = Field(None, description="TRN03; null for deposits without a TRN.")


class DepositPosition(DepositTotals):
    """Per provider: money per ERAs against money per bank, and the open items by age (rules §10, §8a buckets).

    Open items are records that need a person: overdue on either side, amount mismatches, duplicates.
    ``provider_id`` is null for money no ERA names (the payee is not known until one does)."""

    provider_id: str | None
    as_of: dt.date | None = Field(None, description="Stream time: the newest date the inputs have shown.")
    open_items_by_age: dict[str, int] = Field({}, description="'0-30', '31-60', '61-90', '91-120', 'over-120' days.")
    open_amount_by_age: dict[str, Money] = {}
    oldest_open_item: dt.date | None = Field(None, description="Date of the oldest open item.")
    by_payer: list[PayerDeposits] = []


EVENT_TYPES: dict[str, type[Event]] = {
    "remittance": Remittance,
    "claim_payment": ClaimPayment,
    "provider_adjustment": ProviderAdjustment,
    "takeback": Takeback,
    "net_cash_row": NetCashRow,
    "dead_letter": DeadLetter,
    "receipt": Receipt,
    "deposit": Deposit,
    "reassociation": Reassociation,
    "deposit_position": DepositPosition,
}

# The version of each event type's contract, in its CloudEvents `ce_type` (org.takeback.<name>.v<N>). Raise it, and
# release the new schema (python -m schemas.release), only for a change that would break a consumer
# (tests/test_schema_compatibility.py says which); say what changed in schemas/CHANGELOG.md either way.
EVENT_VERSIONS: dict[str, int] = {name: 1 for name in EVENT_TYPES}
