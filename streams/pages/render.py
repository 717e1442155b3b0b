"""Jinja2 templates of the billing pages and how they show money, dates, flags and reasons in plain words."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import jinja2

from streams.action_input import new_action_id
from streams.domain.deadlines.today import next_deadline
from streams.pages.deposits import STATUS_WORDS as DEPOSIT_STATUS_WORDS
from streams.pages.filters import WORKLIST_SORTS, link
from streams.pages.names import NO_NAMES
from streams.pages.queries import AGE_BUCKETS
from streams.security import csrf_field, may, signed_in

DASH = "—"

# Each flag in a sentence a billing person can act on (rules §5, §8a).
FLAG_SENTENCES = {
    "zero_amount": "A takeback of 0.00: a reversal of a claim paid nothing (the claim was reprocessed), or a PLB "
    "recovery line of 0.00, which the 835 standard does not allow.",
    "original_not_found": "No payment of this claim by this payer was found in the remittances seen, so the "
    "takeback cannot be tied to the money it undoes.",
    "correction_overdue": "The claim was reversed and no corrected claim has been paid within the wait: ask the "
    "payer whether it will be reprocessed.",
    "claim_level_reversal_of_line_level_payment": "The payer reversed the whole claim, but the original was paid "
    "line by line: check each line's payment.",
    "offset_against_other_provider": "The money was taken from this payee's payment for a claim that belongs to "
    "another provider (NPI) named in the PLB.",
    "partly_settles_carried_balance": "Part of this recovery paid off a balance carried forward earlier; only the "
    "rest is new money taken back.",
    "netted_for_other_provider": "The payer took money from this payee's payment to pay off a balance another "
    "provider (NPI) of the same tax id owed for its claim; that provider no longer owes it.",
    "refund_exceeds_recovery": "The refund check (PLB 72 or B2) was larger than the recovery it pays back: the excess "
    "is shown apart and is not counted as a refund of this takeback; find what the rest of the check was for.",
    "beyond_lookback_limit": "This recoupment may be beyond the provider's state look-back limit for commercial "
    "payers (rules §11): see the limit and its citation. This is not legal advice.",
    "recovered_twice": "The payer took back more for this claim than it had decided the claim was worth (a refund "
    "and an offset, or a second reversal or recovery): the excess may be owed back (rules §13); the "
    "takeback page links to a printable rebate request.",
    "reused_trace_number": "The payer used this check/EFT number before for a different remittance.",
    "claim_unbalanced": "The claim's amounts do not add up as the 835 standard requires.",
    "line_unbalanced": "A service line's amounts do not add up as the 835 standard requires.",
    "bad_date": "A date in the remittance could not be read.",
    "missing_amount": "An amount the 835 standard requires was missing; it was read as zero.",
    "segment_count_mismatch": "The remittance's segment count (SE01) does not match its segments: it may be cut.",
    "zero_payment_not_h_or_p": "The payment is zero but not marked as a non-payment (BPR01 H or P).",
    "unpaired_authorized_return": "A refund the provider sent (PLB 72) is acknowledged, but no recovery it pays "
    "back (WO or FB with the same reference) is in the same payment: find what the check was for.",
    "payment_not_moved": "The remittance says no money moved (BPR01 H or P) yet reports a payment: its claims count, "
    "none of it is cash; the amount is in the 'not moved' column.",
    "reissued": "The payer sent this payment twice with different contents; it counts once, as the later version.",
    "accepted_unbalanced": "Someone accepted this remittance although it does not balance; the difference is in the "
    "'unexplained' column.",
    # deposits and reassociation (rules §10)
    "no_trn": "The bank credited claim money without the EFT trace (TRN): no ERA can be matched to it; ask the "
    "payer which ERA it pays.",
    "addenda_missing": "The bank entry announced its addenda (with the EFT trace) but the file does not have it.",
    "not_ccd": "A claim payment arrived in an ACH batch that is not CCD, as healthcare EFTs should be.",
    "batch_totals_mismatch": "The ACH batch's control totals do not add up to its entries: the bank file may be "
    "damaged.",
    "account_totals_mismatch": "The bank statement's account totals do not add up to its details: the file may be "
    "damaged.",
    "split_era": "Several ERAs carry this EFT number: their amounts are added up (or the payer reused the number).",
    "date_outside_window": "The deposit date and the ERA's payment date are more than three business days apart.",
    "era_moved_no_money": "The deposit names an ERA that says no money was sent.",
    "no_date": "Neither the ERA nor the deposit has a date, so it can never be called late.",
}

KIND_WORDS = {
    "reversal": "reversed a claim payment before the money went out",
    "recoupment": "recovered money it had already paid",
}
METHOD_WORDS = {
    "offset": "by keeping it out of a later payment",
    "refund": "by a refund the provider sent back",
    "none": "",
}
CATEGORY_WORDS = {
    "duplicate": "a duplicate claim",
    "eligibility": "the patient's coverage (eligibility)",
    "coordination_of_benefits": "another payer being primary (coordination of benefits)",
    "coding_or_billing_error": "a coding or billing error",
    "authorization": "a missing or wrong authorization",
    "medical_necessity": "medical necessity",
    "timely_filing": "the filing deadline",
    "overpayment_recovery": "an overpayment the payer recovers",
    "payer_correction": "a correction by the payer (the claim was paid again)",
    "provider_void": "a void or replacement the provider asked for",
    "unknown": "a reason the payer did not state",
}
STATUS_WORDS = {
    "needs_review": "needs review",
    "open": "open",
    "settled": "settled",
    "withdrawn": "withdrawn",
}


def money(value: Decimal | None) -> str:
    return DASH if value is None else f"{value:,.2f}"


def date(value: dt.date | None) -> str:
    return DASH if value is None else value.isoformat()


ACTION_WORDS = {
    "acknowledge": "acknowledged",
    "assign": "assigned",
    "dispute": "disputed",
    "appeal": "appealed",
    "accept": "accepted",
    "refund_sent": "refund sent",
    "posted": "posted in the practice system",
    "note": "note",
    "none": "nobody has acted",
}
DISPUTE_WORDS = {"none": "not disputed", "disputed": "disputed", "appealed": "appealed", "accepted": "accepted"}


def text(value: Any) -> str:
    return DASH if value is None or value == "" or value == [] else str(value)


def flag_sentence(flag: str) -> str:
    return FLAG_SENTENCES.get(flag, f"Flag '{flag}' (no explanation written yet).")


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("streams.pages", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(money=money, date=date, text=text, flag_sentence=flag_sentence)
    env.globals.update(
        link=link,
        AGE_BUCKETS=AGE_BUCKETS,
        KIND_WORDS=KIND_WORDS,
        METHOD_WORDS=METHOD_WORDS,
        CATEGORY_WORDS=CATEGORY_WORDS,
        STATUS_WORDS=STATUS_WORDS,
        DEPOSIT_STATUS_WORDS=DEPOSIT_STATUS_WORDS,
        DASH=DASH,
        ACTION_WORDS=ACTION_WORDS,
        DISPUTE_WORDS=DISPUTE_WORDS,
        new_action_id=new_action_id,
        csrf_field=csrf_field,  # the hidden cross-site token every POST form carries
        signed_in=signed_in,
        may=may,  # may('biller'): whether to draw action controls
        names=NO_NAMES,
        WORKLIST_SORTS=WORKLIST_SORTS,
        next_deadline=next_deadline,  # a page that knows the names passes its own (streams/pages/names.py)
    )
    return env
