"""National Provider Identifier check: payers also put their own provider numbers where an NPI belongs."""

from __future__ import annotations


def is_valid_npi(value: str) -> bool:
    """An NPI is 10 digits whose last is a Luhn check digit over '80840' + the first nine (CMS)."""
    if len(value) != 10 or not value.isdigit():
        return False
    digits = [int(c) for c in "80840" + value[:9]]
    total = 0
    for index, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if index % 2 == 0 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return (10 - total % 10) % 10 == int(value[9])
