"""What a remittance's payment (BPR) says about money reaching the provider (rules §5, §7).

One home for the handling-code rules and the takeback date, so the reader, the facts and the
classification of reversals and recoupments read them the same way.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from schemas import ZERO

MOVES_MONEY = frozenset({"C", "D", "U"})  # BPR01 codes that always move money
MOVES_MONEY_WHEN_PAID = frozenset({"I", "X"})  # move money only when BPR02 is more than zero
NEVER_MOVES_MONEY = frozenset({"H", "P"})  # notification only: the codes a zero payment must carry (rules §7)


def moves_money(handling_code: str, amount: Decimal) -> bool:
    """Rules §5: C, D, U move money; I and X only when an amount is paid; H and P never."""
    if handling_code in MOVES_MONEY:
        return True
    return handling_code in MOVES_MONEY_WHEN_PAID and amount > ZERO


def payment_not_moved(handling_code: str, amount: Decimal) -> bool:
    """Rules §7: BPR01 says no money moved (H, P) yet BPR02 reports a payment; applied, none of it is cash."""
    return amount != ZERO and not moves_money(handling_code, amount)


def zero_payment_allowed(handling_code: str) -> bool:
    """Rules §7: BPR02 = 0 only with BPR01 H or P."""
    return handling_code in NEVER_MOVES_MONEY


def signed_amount(amount: Decimal, credit_debit: str | None) -> Decimal:
    """BPR02 as it reaches the provider's bank: negative for a debit (BPR03 = D)."""
    return -amount if credit_debit == "D" else amount


def production_date(dtm405: dt.date | None, generated_at: dt.date | dt.datetime | None) -> dt.date | None:
    """Rules §3: when the payer produced the remittance: DTM*405, else the GS04 date of its functional group (TR3:
    DTM*405 is sent only when it differs from GS04). The one home of "production date"."""
    if dtm405 is not None:
        return dtm405
    return generated_at.date() if isinstance(generated_at, dt.datetime) else generated_at


def takeback_date(dtm405: dt.date | None, effective_date: dt.date | None) -> dt.date | None:
    """Rules §5: the date a takeback's disbursement test uses: the production date the payer wrote (DTM*405), else
    BPR16, as the rules text says (a group's GS04 does not enter here: it is when the file was made, not a date the
    payer states for the payment)."""
    return dtm405 or effective_date
