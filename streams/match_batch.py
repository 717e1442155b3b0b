"""One batch of remittance events through their providers' ledgers: what to store and what to publish.

Plain Python, no Faust: the match agent takes events from `remittances.rekeyed`, and the ingest agent the
remittances of one input whose ledgers live where it read them (streams/local_ledgers.py); each hands them to a
MatchBatch, writes the changed ledgers and sends the outbox. Faust's cost is per table write, so a batch writes each
ledger once, however many of its remittances it holds, and settles remittances that arrived out of order once per
ledger (rules §5). A ledger holds the NPIs of one TIN (its key: `streams.domain.ids.ledger_key`); at the end of the
batch, every NPI row of every ledger the batch touched goes out as the ledger's *share* of the NPI's row, keyed by
the NPI, with the ledger's revision: a sibling's remittance can change an NPI's share. The cash agent sums an NPI's
shares (an NPI paid under two TINs, or with and without one, has a share in each ledger) into the row it publishes
on `net-cash`.

Every remittance gets a Receipt announcing the takeback revisions and cash row it produced. Settling at the end of
the batch can add to the provider's last receipt, so receipts are kept aside and join the outbox only once the
batch is settled: nothing in the outbox changes after it is put there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel

from schemas import DeadLetter, Receipt, SourceRef, Takeback, TakebackKind
from streams.dead_letters import dead_letter
from streams.domain.ids import ledger_key
from streams.domain.ledger import (
    InvalidRemittance,
    LedgerUpdate,
    MatchPolicy,
    ProviderLedger,
    RemittanceFacts,
    apply_remittance,
    cash_rows,
    facts_from_json,
    settle,
)
from streams.domain.payee_ledgers import take_offer
from streams.metrics import WorkerMetrics

log = logging.getLogger("takeback.match")
STAGE = "matching"


class Destination(StrEnum):
    """Where an outgoing event goes: the name of its topic's field in streams.container.Topics."""

    reversals = "reversals"
    recoupments = "recoupments"
    net_cash_shares = "net_cash_shares"
    receipts = "receipts"
    dead_letters = "dead_letters"
    remittances_rekeyed = "remittances_rekeyed"


# Rules §2 (streams/domain/payee_ledgers.py): a remittance offered to other ledgers on its way to its own carries
# where it is ("at"), where it goes next ("to", its own ledger last), and once a ledger took the offer the mark for
# its own ledger and that ledger's revision ("mark", "shares"), as JSON in this header.
OFFER_HEADER = "takeback-offer"


@dataclass(frozen=True)
class Outgoing:
    destination: Destination
    key: str
    event: BaseModel | None
    value: bytes | None = None  # a remittance passed on as it came (event None), with its offer header
    offer: dict[str, Any] | None = None


class LedgerStore(Protocol):
    """Where ledgers are read from: the ledgers table in a worker, a dict in a test. None: no ledger yet."""

    def get(self, key: str) -> ProviderLedger | None: ...


@dataclass
class BatchResult:
    changed: dict[str, ProviderLedger]  # ledger key -> ledger to store, before anything is sent
    outbox: list[Outgoing]  # in the order to send


class MatchBatch:
    """Takes a batch's remittance events one by one (`add`), then settles the batch (`finish`)."""

    def __init__(self, ledgers: LedgerStore, policy: MatchPolicy, metrics: WorkerMetrics) -> None:
        self.ledgers = ledgers
        self.policy = policy
        self.metrics = metrics
        self._changed: dict[str, ProviderLedger] = {}
        self._touched: dict[str, ProviderLedger] = {}  # applied or duplicate: their cash rows go out at the end
        self._outputs: list[Outgoing] = []
        self._receipts: list[Receipt] = []
        self._last_receipt: dict[str, Receipt] = {}  # ledger key -> its last applied or duplicate remittance's
        self._finished = False

    def add(self, value: bytes, where: SourceRef, offer: dict[str, Any] | None = None) -> str | None:
        """Apply one remittance event; returns the key of the ledger it changed (None when the event was rejected
        unread, or only passed on). `offer`: its OFFER_HEADER, when it is offered to other ledgers (rules §2)."""
        if self._finished:
            raise RuntimeError("a finished batch takes no more events")
        try:
            facts, document = facts_from_json(value)
        except InvalidRemittance as exc:
            self._reject("invalid_event", f"The remittance event does not match the contract: {exc}.", where, value)
            return None
        source = document.get("source") or {}
        where = where.model_copy(update={"source_id": source.get("source_id"), "file": source.get("file")})
        payee = document["payee"]
        provider_id = str(payee["id"])
        key = ledger_key(provider_id, payee.get("tin"), payee.get("id_qualifier"))
        if offer and offer.get("to"):  # on its way to its own ledger: offered to this one
            return self._offer(facts, value, offer)
        mark, other_shares = (offer.get("mark"), offer.get("shares") or {}) if offer else (None, {})
        receipt = Receipt(
            stage="processed",
            source_id=where.source_id or "",
            file=where.file,
            sequence=document.get("sequence"),
            remittance_id=facts.remittance_id,
            provider_id=provider_id,
            ledger_key=key,
            other_shares=other_shares,
        )
        ledger = self._ledger(key)
        try:
            update = apply_remittance(ledger, facts, self.policy, defer=True, elsewhere=mark)
        except Exception:  # a bug must not stop the stream: dead-letter the remittance, keep going
            # (apply_remittance has rolled the ledger back to before this remittance)
            log.exception("matching failed for remittance %s", facts.remittance_id)
            text = "Takeback could not apply this remittance; it was not counted. Report it with this record."
            self._reject("internal_error", text, where, value, receipt)
            return key
        if update.outcome == "applied":
            self._changed[key] = ledger
        self._touched[key] = ledger
        self._publish(update.takebacks)
        self.metrics.remittance(len(facts.claims), document.get("published_at"), update.outcome, update.takebacks)
        self._keep_receipt(key, receipt, update)
        return key

    def _offer(self, facts: RemittanceFacts, value: bytes, offer: dict[str, Any]) -> str | None:
        """Rules §2: a ledger this remittance is offered to takes the offer when it holds another version of it
        (marking its versions), and the remittance goes on to its own ledger marked the other way; else on to the
        next ledger. Returns this ledger's key when it changed."""
        at, ahead = offer["at"], offer["to"]
        ledger = self._ledger(at)
        taken = take_offer(ledger, facts, self.policy)
        if taken is None:
            onward = {"at": ahead[0], "to": ahead[1:]}
            self._outputs.append(Outgoing(Destination.remittances_rekeyed, ahead[0], None, value, onward))
            return None
        mark, update = taken
        self._changed[at] = self._touched[at] = ledger
        self._publish(update.takebacks)
        home = ahead[-1]
        onward = {"at": home, "to": [], "mark": mark, "shares": {at: ledger.revision}}
        self._outputs.append(Outgoing(Destination.remittances_rekeyed, home, None, value, onward))
        return at

    def finish(self) -> BatchResult:
        """Settle what the batch's out-of-order remittances changed; then the receipts, final, join the outbox."""
        self._finished = True
        for key, ledger in self._changed.items():
            update = settle(ledger, self.policy)
            if update is None:
                continue
            # after the batch's earlier revisions, so revisions go out in order
            self._publish(update.takebacks)
            receipt = self._last_receipt[key]  # still kept aside: it joins the outbox below
            receipt.takeback_revisions.update({t.event_id: t.revision for t in update.takebacks})
            receipt.takeback_events = len(receipt.takeback_revisions)
            receipt.cash_revision = ledger.revision  # the revision of the ledger's shares below
        for ledger in self._touched.values():
            for share in cash_rows(ledger):
                self._outputs.append(Outgoing(Destination.net_cash_shares, share.provider_id, share))
        receipts = [Outgoing(Destination.receipts, r.source_id, r) for r in self._receipts]
        return BatchResult(changed=dict(self._changed), outbox=[*self._outputs, *receipts])

    def _keep_receipt(self, key: str, receipt: Receipt, update: LedgerUpdate) -> None:
        """Set aside until `finish`: settling may still add to the provider's last receipt."""
        receipt.outcome = update.outcome
        receipt.takeback_events = len(update.takebacks)
        receipt.takeback_revisions = {t.event_id: t.revision for t in update.takebacks}
        receipt.cash_revision = update.revision
        self._receipts.append(receipt)
        self._last_receipt[key] = receipt

    def _ledger(self, key: str) -> ProviderLedger:
        ledger = self._changed.get(key) or self.ledgers.get(key)
        return ledger if ledger is not None else ProviderLedger(provider_id=key)

    def _publish(self, takebacks: list[Takeback]) -> None:
        for takeback in takebacks:
            self._outputs.append(Outgoing(_takeback_destination(takeback), takeback.provider_id, takeback))

    def _reject(self, code: str, text: str, where: SourceRef, value: bytes, receipt: Receipt | None = None) -> None:
        """A remittance event the matching stage cannot apply: dead letter, and a receipt when we know its input."""
        dead: DeadLetter = dead_letter(STAGE, code, text, where, value)
        self._outputs.append(Outgoing(Destination.dead_letters, where.source_id or "invalid", dead))
        self.metrics.rejected(dead)
        if receipt is not None:
            receipt.outcome = "dead_letter"
            self._receipts.append(receipt)


def _takeback_destination(takeback: Takeback) -> Destination:
    return Destination.reversals if takeback.kind == TakebackKind.reversal else Destination.recoupments
