"""The provider-level adjustment (PLB) codes the rules give a meaning of their own (rules §4).

Every other code is an other adjustment, kept by code.
"""

from __future__ import annotations

RECOVERY_CODES = frozenset({"WO", "WU", "J1"})  # positive: money recovered from the provider, a recoupment
CARRY_CODES = frozenset({"WO", "FB"})  # carry a balance (negative) or settle one (positive) by reference
OFFSET_CODES = frozenset({"72", "B2", "CS"})  # negative next to a positive WO/FB: refunded by check, or forgiven
PAYER_WRITE_OFF = "CS"  # with a reference like "PAYER WRITE OFF": the payer forgave it
WRITE_OFF_WORDS = ("WRITE OFF", "WRITEOFF", "WRITE-OFF", "W/O")
REFUND_CODES = frozenset({"72", "B2"})  # paid back by check: a takeback they settle is settled by refund
AUTHORIZED_RETURN = "72"  # a refund the provider sent; on its own (no WO/FB beside it) it is flagged
