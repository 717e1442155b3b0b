"""The pipeline's domain steps without a broker: files -> remittances -> ledgers -> takebacks and cash.

The stream agents do exactly this, one message at a time; tests use it to check
rules quickly (and in every arrival order), and benchmarks to measure the
domain cost apart from Kafka's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from schemas import DeadLetter, NetCashRow, Remittance, Takeback
from streams.domain.cash_shares import combine_shares, latest_share
from streams.domain.facts import facts_of
from streams.domain.ids import ledger_key
from streams.domain.ledger import ProviderLedger, RemittanceFacts, apply_remittance, cash_rows
from streams.domain.payee_ledgers import DictDirectory, offers, payee_npi, take_offer
from streams.domain.x12 import read_835


@dataclass
class OfflineResult:
    takebacks: dict[str, Takeback] = field(default_factory=dict)  # event_id -> latest revision
    net_cash: dict[str, NetCashRow] = field(default_factory=dict)  # provider_id -> its shares combined
    shares: dict[str, dict[str, NetCashRow]] = field(default_factory=dict)  # provider_id -> ledger key -> share
    dead_letters: list[DeadLetter] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    directory: DictDirectory = field(default_factory=DictDirectory)  # NPI -> its ledgers (rules §2)

    def live_takebacks(self) -> list[Takeback]:
        """Takebacks as `replay` writes them: latest revisions, withdrawn ones left out."""
        return [t for t in self.takebacks.values() if not t.withdrawn]


def read_files(paths: Iterable[Path]) -> tuple[list[Remittance], list[DeadLetter]]:
    return read_inputs((path.name, path.read_bytes()) for path in paths)


def read_inputs(inputs: Iterable[tuple[str, bytes]]) -> tuple[list[Remittance], list[DeadLetter]]:
    """Read (name, 835 bytes) inputs in the order given."""
    remittances: list[Remittance] = []
    dead_letters: list[DeadLetter] = []
    for index, (name, data) in enumerate(inputs):
        result = read_835(data, file=name, source_id=f"offline-{index:06d}")
        for sequence, remittance in enumerate(result.remittances):
            remittance.sequence = sequence
        remittances.extend(result.remittances)
        dead_letters.extend(result.dead_letters)
    return remittances, dead_letters


def apply_all(
    remittances: Iterable[Remittance],
    result: OfflineResult | None = None,
    ledgers: dict[str, ProviderLedger] | None = None,
) -> OfflineResult:
    """Apply remittances in the order given, one ledger per TIN (else per payee), as the match agent does.

    `ledgers` (ledger key -> ledger) carries state from an earlier call: the benchmark applies more to a large
    history.
    """
    result = result or OfflineResult()
    ledgers = {} if ledgers is None else ledgers
    touched: dict[str, ProviderLedger] = {}
    for remittance in remittances:
        payee = remittance.payee
        key = ledger_key(payee.id, payee.tin, payee.id_qualifier)
        offered = offers(result.directory, payee_npi(payee.id, payee.id_qualifier), key)
        item: Remittance | RemittanceFacts = remittance
        mark = None
        for other in offered[:-1]:  # rules §2: an NPI routed to several ledgers: a version may be in another
            item = facts_of(remittance) if isinstance(item, Remittance) else item
            taken = take_offer(ledgers.get(other), item)
            if taken is not None:
                mark, marked = taken
                touched[other] = ledgers[other]
                for takeback in marked.takebacks:
                    result.takebacks[takeback.event_id] = takeback
                break
        ledger = touched[key] = ledgers.setdefault(key, ProviderLedger(provider_id=key))
        update = apply_remittance(ledger, item, elsewhere=mark)
        result.outcomes[update.outcome] = result.outcomes.get(update.outcome, 0) + 1
        for takeback in update.takebacks:
            result.takebacks[takeback.event_id] = takeback
    changed: set[str] = set()
    for ledger in touched.values():  # every NPI share of a ledger changed, as the match batch publishes them
        for share in cash_rows(ledger):
            shares = result.shares.setdefault(share.provider_id, {})
            shares[ledger.provider_id] = latest_share(shares.get(ledger.provider_id), share)
            changed.add(share.provider_id)
    for npi in changed:  # rules §5, §8: an NPI paid in several ledgers has the sum of its shares, as the cash agent
        result.net_cash[npi] = combine_shares(result.shares[npi].values())
    return result


def process_files(paths: Iterable[Path]) -> OfflineResult:
    remittances, dead_letters = read_files(paths)
    result = apply_all(remittances)
    result.dead_letters.extend(dead_letters)
    return result
