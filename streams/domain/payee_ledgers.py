"""Rules §2: where the versions of one payment meet when their copies send it to different ledgers.

A payee's remittances go to the ledger of its TIN, or, when an ERA gives no TIN, to a ledger of the NPI's own
(`streams.domain.ids.ledger_key`). A payment re-issued with REF*TJ added or dropped therefore has copies routed to
two ledgers, and neither would see the other. The *directory* knows, per NPI, the ledgers it has been routed to (its
own, its TINs'): a few entries per NPI, written when an NPI first reaches a ledger. A remittance whose NPI has been
routed to another ledger too is first *offered* to those ledgers, one after the other, then to its own: the first
that holds another version of it (`reissues.is_version`) applies it, so the versions meet in one ledger, which
holds the later one and counts the payment once (`reissues.held_versions`). A remittance whose NPI reaches one
ledger only (nearly all) costs one directory look-up.

Every arrival order works: whichever copy comes second finds the first one's ledger in the directory (each copy
notes its own ledger before it is offered), and an offer to a ledger is processed after the copy that ledger got
before it (both travel keyed by that ledger). The versions meet in the ledger of the copy that came first; which
ledger that is changes nothing in the payment's cash (an NPI's row is the sum of its ledgers' shares, rules §8).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Protocol

from streams.domain.ids import TIN_QUALIFIER
from streams.domain.ledger import (
    LedgerUpdate,
    MatchPolicy,
    ProviderLedger,
    RemittanceFacts,
    mark_version_elsewhere,
    trace_key,
)
from streams.domain.reissues import generation_key, is_version

HELD, REPLACED = "held", "replaced"


@dataclass
class PayeeLedgers:
    """The ledgers an NPI's remittances were routed to, in the order first seen."""

    keys: list[str] = field(default_factory=list)

    def to_json(self) -> bytes:
        return json.dumps(self.keys, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes | None) -> PayeeLedgers:
        return cls(list(json.loads(raw))) if raw else cls()


class Directory(Protocol):
    """NPI -> the ledgers it was routed to: a dict offline, a global table in a worker (streams/agents.py)."""

    def get(self, npi: str) -> PayeeLedgers | None: ...

    def put(self, npi: str, ledgers: PayeeLedgers) -> None: ...


class DictDirectory:
    def __init__(self) -> None:
        self.entries: dict[str, PayeeLedgers] = {}

    def get(self, npi: str) -> PayeeLedgers | None:
        return self.entries.get(npi)

    def put(self, npi: str, ledgers: PayeeLedgers) -> None:
        self.entries[npi] = ledgers


def payee_npi(payee_id: str, id_qualifier: str | None) -> str | None:
    """N104 when it names the payee by NPI (not by TIN, N103 = FI): the identity the copies of a payment share."""
    return None if id_qualifier == TIN_QUALIFIER or not payee_id else payee_id


def offers(directory: Directory, npi: str | None, key: str) -> list[str]:
    """Note that `npi` is routed to ledger `key`; the ledgers to offer its remittance to, in order, ending with
    `key` itself; empty when the NPI reaches no other ledger (the common path)."""
    if npi is None:
        return []
    entry = directory.get(npi)
    if entry is None or key not in entry.keys:
        entry = PayeeLedgers([*(entry.keys if entry else []), key])
        directory.put(npi, entry)
    if len(entry.keys) == 1:
        return []
    return [*(k for k in entry.keys if k != key), key]


def take_offer(
    ledger: ProviderLedger | None, facts: RemittanceFacts, policy: MatchPolicy | None = None
) -> tuple[str, LedgerUpdate] | None:
    """At a ledger a remittance is offered to: None when it holds no other version of it; else how the remittance
    is to be marked in its own ledger ("held" when it is the later version, else "replaced") and what marking this
    ledger's versions the other way changed here (takebacks to publish, its rows)."""
    if ledger is None or facts.remittance_id in ledger.remittances:
        return None
    same_trace = ledger.trace_index.get(trace_key(facts)) or []
    versions = [v for v in (ledger.remittances[rid] for rid in same_trace) if is_version(facts, v)]
    if not versions:
        return None
    latest = max(versions, key=generation_key)
    if generation_key(facts) > generation_key(latest):
        update = None
        for version in versions:
            update = mark_version_elsewhere(ledger, version.remittance_id, REPLACED, policy)
        assert update is not None
        return HELD, update
    return REPLACED, mark_version_elsewhere(ledger, latest.remittance_id, HELD, policy)
