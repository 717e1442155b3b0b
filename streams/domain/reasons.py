"""Why a takeback happened: one reason category per takeback (rules §6).

Only code numbers and our own categories live here: X12's code descriptions
are copyrighted, so we never ship them.
"""

from __future__ import annotations

from collections.abc import Iterable

from schemas import ReasonCategory
from streams.domain.plb_codes import RECOVERY_CODES

# CARC number -> our category.  Order of CATEGORY_PRIORITY decides when a claim
# carries codes of several categories: the most specific cause wins.
_CARC_CATEGORIES: dict[ReasonCategory, set[str]] = {
    ReasonCategory.duplicate: {"18"},
    ReasonCategory.eligibility: {"26", "27", "31", "32", "33", "177", "200", "140", "24"},
    ReasonCategory.coordination_of_benefits: {"22", "23", "109", "209"},
    ReasonCategory.coding_or_billing_error: {
        *(str(n) for n in range(4, 12)),
        "16",
        "97",
        "125",
        "146",
        "181",
        "182",
        "189",
        "234",
        "B7",
    },
    ReasonCategory.authorization: {"15", "197", "198", "39", "62"},
    ReasonCategory.medical_necessity: {"50", "56", "57", "150", "151"},
    ReasonCategory.timely_filing: {"29"},
}

CATEGORY_PRIORITY: tuple[ReasonCategory, ...] = (
    ReasonCategory.duplicate,
    ReasonCategory.eligibility,
    ReasonCategory.coordination_of_benefits,
    ReasonCategory.timely_filing,
    ReasonCategory.authorization,
    ReasonCategory.medical_necessity,
    ReasonCategory.coding_or_billing_error,
)

_CARC_TO_CATEGORY: dict[str, ReasonCategory] = {
    carc: category for category, carcs in _CARC_CATEGORIES.items() for carc in carcs
}


def category_of_carc(carc: str) -> ReasonCategory | None:
    return _CARC_TO_CATEGORY.get(carc.strip().upper())


def reason_codes_of(claim: dict) -> list[str]:
    """'CO-45' style codes (group-CARC, as payers and billing staff write them) of a claim and its lines,
    then its RARCs; no repeats, order kept.  Takes the claim as JSON data (a ClaimPayment dumped)."""
    codes = [f"{a['group']}-{a['reason']}" for a in claim.get("adjustments") or []]
    for line in claim.get("service_lines") or []:
        codes.extend(f"{a['group']}-{a['reason']}" for a in line.get("adjustments") or [])
        codes.extend(line.get("remark_codes") or [])
    codes.extend(claim.get("remark_codes") or [])
    return list(dict.fromkeys(codes))


def categorize(codes: Iterable[str], *, has_correction: bool, plb_reason_code: str | None) -> ReasonCategory:
    """One category for a takeback from its codes ('CO-18', 'N123', 'WO', ...)."""
    found = {category_of_carc(code.rsplit("-", 1)[-1]) for code in codes if "-" in code}
    for category in CATEGORY_PRIORITY:
        if category in found:
            return category
    if plb_reason_code in RECOVERY_CODES:
        return ReasonCategory.overpayment_recovery
    if has_correction:
        return ReasonCategory.payer_correction
    return ReasonCategory.unknown
