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

# RARC (MOA, MIA, LQ*HE) -> our category (rules §6): only remarks that name a cause on their own; the many
# informational ones (appeal rights, contract terms) say nothing about why money was taken back.
_RARC_TO_CATEGORY: dict[str, ReasonCategory] = {
    "M86": ReasonCategory.duplicate,
    "N30": ReasonCategory.eligibility,
    "MA04": ReasonCategory.coordination_of_benefits,
    "MA64": ReasonCategory.coordination_of_benefits,
    "N4": ReasonCategory.coordination_of_benefits,
    "N54": ReasonCategory.authorization,
    "N115": ReasonCategory.medical_necessity,
    "MA130": ReasonCategory.coding_or_billing_error,
    "N56": ReasonCategory.coding_or_billing_error,
}

PROVIDER_VOID = "8"  # CLP09 (the 837's claim frequency code) of a claim the provider voided


def category_of_carc(carc: str) -> ReasonCategory | None:
    return _CARC_TO_CATEGORY.get(carc.strip().upper())


def category_of_code(code: str) -> ReasonCategory | None:
    """The category one code says: 'CO-50' by its CARC, 'N30' (no group) as a RARC."""
    if "-" in code:
        return category_of_carc(code.rsplit("-", 1)[-1])
    return _RARC_TO_CATEGORY.get(code.strip().upper())


def carcs(codes: Iterable[str]) -> list[str]:
    return [code for code in codes if "-" in code]


def remarks(codes: Iterable[str]) -> list[str]:
    return [code for code in codes if "-" not in code]


def added_carcs(codes: Iterable[str], before: Iterable[str]) -> list[str]:
    """Rules §6: the CARCs of `codes` whose reason number `before` lacks (a 5010 reversal repeats the original's
    CAS negated, a 4010 one under group CR: the number, not the group, says whether a reason is new)."""
    known = {code.rsplit("-", 1)[-1] for code in carcs(before)}
    return [code for code in carcs(codes) if code.rsplit("-", 1)[-1] not in known]


def first_category(codes: Iterable[str]) -> ReasonCategory | None:
    """The category of the highest-priority code among `codes`, None when no code says anything."""
    found = {category_of_code(code) for code in codes}
    return next((category for category in CATEGORY_PRIORITY if category in found), None)


def reason_of(
    *evidence: Iterable[str], has_correction: bool, plb_reason_code: str | None = None, void: bool = False
) -> ReasonCategory:
    """Rules §6: the first piece of evidence that names a cause wins (changed CARCs, then RARCs, then for a PLB the
    claim it resolves to); else the generic categories, in the table's order."""
    for codes in evidence:
        category = first_category(codes)
        if category is not None:
            return category
    if plb_reason_code in RECOVERY_CODES:
        return ReasonCategory.overpayment_recovery
    if has_correction:
        return ReasonCategory.payer_correction
    if void:
        return ReasonCategory.provider_void
    return ReasonCategory.unknown


def reason_codes_of(claim: dict) -> list[str]:
    """'CO-45' style codes (group-CARC, as payers and billing staff write them) of a claim and its lines,
    then its RARCs; no repeats, order kept.  Takes the claim as JSON data (a ClaimPayment dumped)."""
    codes = [f"{a['group']}-{a['reason']}" for a in claim.get("adjustments") or []]
    for line in claim.get("service_lines") or []:
        codes.extend(f"{a['group']}-{a['reason']}" for a in line.get("adjustments") or [])
        codes.extend(line.get("remark_codes") or [])
    codes.extend(claim.get("remark_codes") or [])
    return list(dict.fromkeys(codes))
