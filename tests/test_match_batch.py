"""The match agent's batch without a broker (streams/match_batch.py): remittance JSON in, ledgers and outbox out."""

from __future__ import annotations

import datetime as dt
from dataclasses import fields

import pytest

from schemas import NetCashRow, Receipt, Remittance, SourceRef, Takeback
from streams.container import Topics
from streams.domain.ids import ledger_key
from streams.domain.ledger import MatchPolicy, ProviderLedger
from streams.match_batch import BatchResult, Destination, MatchBatch
from streams.metrics import WorkerMetrics
from tests.support.builders import PROVIDER, claim, plb, remittance

PAID = [claim("PCN1", "1", "100.00", charge="150", pcn="ICN1"), claim("PCN2", "1", "40.00", pcn="ICN2")]
ORIGINAL = remittance("CHK100", "2026-01-10", PAID)
REVERSAL = remittance("EFT200", "2026-02-01", [claim("PCN1", "22", "-100.00", charge="-150", pcn="ICN1")])
OTHER_PROVIDER = remittance("CHK300", "2026-01-11", [claim("PCN9", "1", "50.00")], provider="1098765435")


def event(r: Remittance) -> bytes:
    return r.model_dump_json(exclude_defaults=True).encode()  # as the ingest agent sends it


def run(*remittances: Remittance | bytes, ledgers: dict[str, ProviderLedger] | None = None) -> BatchResult:
    batch = MatchBatch({} if ledgers is None else ledgers, MatchPolicy(), WorkerMetrics())
    for offset, r in enumerate(remittances):
        batch.add(r if isinstance(r, bytes) else event(r), SourceRef(topic="remittances", partition=0, offset=offset))
    return batch.finish()


def sent(result: BatchResult, destination: Destination) -> list:
    return [o.event for o in result.outbox if o.destination == destination]


def takebacks(result: BatchResult) -> list[Takeback]:
    return [o.event for o in result.outbox if o.destination in (Destination.reversals, Destination.recoupments)]


def check_receipts_are_last_and_announce_what_was_sent(result: BatchResult) -> None:
    destinations = [o.destination for o in result.outbox]
    first_receipt = destinations.index(Destination.receipts)
    assert set(destinations[first_receipt:]) == {Destination.receipts}, destinations
    latest = {}
    for t in takebacks(result):
        latest[t.event_id] = max(latest.get(t.event_id, 0), t.revision)
    cash = {(row.provider_id, row.ledger_key): row.revision for row in sent(result, Destination.net_cash_shares)}
    for receipt in sent(result, Destination.receipts):
        for event_id, revision in receipt.takeback_revisions.items():
            assert latest[event_id] >= revision
        assert receipt.takeback_events == len(receipt.takeback_revisions)
        if receipt.cash_revision is not None:
            assert cash[(receipt.provider_id, receipt.ledger_key)] >= receipt.cash_revision  # the share it names


def test_destinations_are_the_topics_of_the_container() -> None:
    assert {d.value for d in Destination} <= {f.name for f in fields(Topics)}


def test_an_in_order_batch_links_the_reversal_and_writes_each_ledger_once() -> None:
    result = run(ORIGINAL, REVERSAL, OTHER_PROVIDER)
    assert sorted(result.changed) == sorted([PROVIDER, "1098765435"])
    assert [len(ledger.remittances) for ledger in result.changed.values()] == [2, 1]
    (takeback,) = takebacks(result)
    assert takeback.claim_id == "PCN1" and str(takeback.amount) == "100.00"
    receipts: list[Receipt] = sent(result, Destination.receipts)
    assert [(r.source_id, r.outcome) for r in receipts] == [
        ("CHK100", "applied"),
        ("EFT200", "applied"),
        ("CHK300", "applied"),
    ]
    assert receipts[1].takeback_revisions == {takeback.event_id: takeback.revision}
    check_receipts_are_last_and_announce_what_was_sent(result)


def test_an_out_of_order_batch_is_settled_and_announced_on_the_providers_last_receipt() -> None:
    result = run(REVERSAL, ORIGINAL)  # the original payment sorts first, so the ledger re-derives at the end
    found = takebacks(result)
    assert [t.revision for t in found] == [1, 2]  # first as an orphan, then linked by the settlement
    final = found[-1]
    assert final.original_trace_number == "CHK100"  # linked once the original arrived
    last = sent(result, Destination.receipts)[-1]
    assert last.source_id == "CHK100" and last.takeback_revisions[final.event_id] == final.revision
    last_cash: NetCashRow = sent(result, Destination.net_cash_shares)[-1]
    assert last.cash_revision == last_cash.revision
    check_receipts_are_last_and_announce_what_was_sent(result)


def test_a_remittance_already_in_the_stored_ledger_is_a_duplicate_and_republishes_the_same_events() -> None:
    first = run(ORIGINAL, REVERSAL)
    again = run(REVERSAL, ledgers=dict(first.changed))
    assert again.changed == {}
    (receipt,) = sent(again, Destination.receipts)
    assert receipt.outcome == "duplicate"
    assert {t.event_id: t.revision for t in takebacks(again)} == {t.event_id: t.revision for t in takebacks(first)}


def test_an_event_that_breaks_the_contract_is_a_dead_letter_without_a_receipt() -> None:
    metrics = WorkerMetrics()
    batch = MatchBatch({}, MatchPolicy(), metrics)
    assert batch.add(b'{"payee": 1}', SourceRef(topic="remittances", partition=1, offset=7)) is None
    result = batch.finish()
    (outgoing,) = result.outbox
    assert (outgoing.destination, outgoing.key, outgoing.event.error_code) == (
        Destination.dead_letters,
        "invalid",
        "invalid_event",
    )
    assert outgoing.event.stage == "matching" and outgoing.event.source.offset == 7
    assert metrics.registry.get_sample_value("takeback_remittances_total", {"outcome": "dead_letter"}) == 1


def test_a_finished_batch_takes_no_more_events() -> None:
    batch = MatchBatch({}, MatchPolicy(), WorkerMetrics())
    batch.finish()
    with pytest.raises(RuntimeError):
        batch.add(event(ORIGINAL), SourceRef(topic="remittances", partition=0, offset=0))


def test_sibling_npis_share_a_ledger_and_each_gets_its_row_once_per_batch() -> None:
    """Rules §5: the NPIs of one TIN are one ledger (keyed by the TIN's hash); each NPI's row goes out once, at the
    end of the batch, with the ledger's revision, so a sibling's remittance never leaves a stale row behind."""
    north, south, tin = "1000000434", "1000001432", "910000043"
    paid = remittance("EFT1", "2026-01-05", [claim("PCN4301", "1", "400")], provider=north, tin=tin)
    more = remittance("EFT2", "2026-01-20", [claim("PCN4399", "1", "80")], provider=north, tin=tin)
    offset = remittance(
        "EFT3",
        "2026-03-08",
        [claim("PCN4302", "1", "600")],
        [plb("WO", "150", "PCN4301", south)],
        provider=south,
        tin=tin,
    )
    ledgers: dict[str, ProviderLedger] = {}
    result = run(paid, offset, more, ledgers=ledgers)  # EFT2 arrives late: the ledger re-derives at the end
    (key,) = result.changed
    assert key.startswith("tin-") and tin not in key
    rows = sent(result, Destination.net_cash_shares)
    assert sorted(r.provider_id for r in rows) == [north, south]
    assert {(r.revision, r.ledger_key) for r in rows} == {(3, key)}
    (wo,) = [t for t in takebacks(result) if t.plb_reason_code == "WO"]
    assert (wo.provider_id, wo.payee_provider_id, wo.claim_id) == (north, south, "PCN4301")
    check_receipts_are_last_and_announce_what_was_sent(result)


def test_a_remittance_offered_to_a_ledger_holding_another_version_goes_on_marked_to_its_own() -> None:
    """Rules §2 (streams/domain/payee_ledgers.py): the copy with REF*TJ, generated later, is offered to the NPI's
    own ledger holding the copy without it, then applied in the TIN's ledger: the payment counts once."""
    own, tin = ledger_key(PROVIDER), ledger_key(PROVIDER, "910000001")
    first = remittance("EFT700", "2026-03-02", [claim("PCN7", "1", "300.00", pcn="ICN7")])
    again = remittance("EFT700", "2026-03-02", [claim("PCN7", "1", "300.00", pcn="ICN7")], tin="910000001")
    again = again.model_copy(update={"remittance_id": "reissued-with-tin", "generated_at": dt.datetime(2026, 3, 6)})
    ledgers: dict[str, ProviderLedger] = {}
    stored = run(first, ledgers=ledgers)
    ledgers.update(stored.changed)

    at_own = MatchBatch(ledgers, MatchPolicy(), WorkerMetrics())
    assert at_own.add(event(again), SourceRef(topic="r", partition=0, offset=1), {"at": own, "to": [tin]}) == own
    offered = at_own.finish()
    onward = [o for o in offered.outbox if o.destination == Destination.remittances_rekeyed]
    assert [(o.key, o.offer) for o in onward] == [(tin, {"at": tin, "to": [], "mark": "held", "shares": {own: 2}})]
    assert not sent(offered, Destination.receipts)  # the remittance is not applied here
    assert [row.net_cash for row in sent(offered, Destination.net_cash_shares)] == [0]  # the copy here: replaced

    at_tin = MatchBatch({}, MatchPolicy(), WorkerMetrics())
    at_tin.add(onward[0].value or b"", SourceRef(topic="r", partition=1, offset=0), onward[0].offer)
    applied = at_tin.finish()
    (receipt,) = sent(applied, Destination.receipts)
    assert (receipt.ledger_key, receipt.other_shares) == (tin, {own: 2})
    (share,) = sent(applied, Destination.net_cash_shares)
    assert share.net_cash == 300 and share.flags == {"reissued": 1}
