"""Reassociation without a broker: 835s and bank files in, the latest reassociation records out.

The stream agents do the same one message at a time; tests use this to check rules §10 quickly and in
every arrival order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from schemas import DeadLetter, Deposit, DepositPosition, Reassociation, Remittance, Takeback
from streams.domain.bank import bank_file_format, read_bank_file
from streams.domain.bank.matcher import DepositMatcher
from streams.domain.bank.position import positions
from streams.domain.bank.reassociation import DEFAULT_WAIT_BUSINESS_DAYS
from streams.domain.offline import apply_all
from streams.domain.x12 import read_835


@dataclass
class ReassociationResult:
    records: dict[str, Reassociation] = field(default_factory=dict)  # event_id -> latest revision
    deposits: list[Deposit] = field(default_factory=list)
    takebacks: list[Takeback] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    positions: list[DepositPosition] = field(default_factory=list)  # per provider, at the end


def reassociate_files(
    paths: Iterable[Path], wait_business_days: int = DEFAULT_WAIT_BUSINESS_DAYS
) -> ReassociationResult:
    """Read each file (an 835 or a bank file, told apart by content) in the order given, match them all."""
    result = ReassociationResult()
    inputs: list[Remittance | Deposit] = []
    for index, path in enumerate(paths):
        data = path.read_bytes()
        source_id = f"offline-{index:06d}"
        if bank_file_format(data):
            bank = read_bank_file(data, file=path.name, source_id=source_id)
            inputs += bank.deposits
            result.deposits += bank.deposits
            result.dead_letters += bank.dead_letters
        else:
            era = read_835(data, file=path.name, source_id=source_id)
            inputs += era.remittances
            result.dead_letters += era.dead_letters
    remittances = [item for item in inputs if isinstance(item, Remittance)]
    result.takebacks = list(apply_all(remittances).takebacks.values())
    matcher = DepositMatcher(wait_business_days)
    for item in inputs:
        if isinstance(item, Remittance):
            matcher.add_remittance(item)
        else:
            matcher.add_deposit(item)
    for takeback in result.takebacks:
        matcher.add_takeback(takeback)
    result.records = {record.event_id: record for record in matcher.current()}
    result.positions = positions(matcher.current(), matcher.stream_time)
    return result
