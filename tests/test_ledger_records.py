"""The stored form of a ledger (streams/domain/ledger_records.py): header plus facts written once, no broker."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal

import pytest

from schemas import DateRef, Patient
from streams.domain.facts import CLAIM_ROW_FIELDS, ClaimFact, InvalidRemittance, claim_from_row, claim_row
from streams.domain.ledger import ProviderLedger, apply_remittance, cash_row
from streams.domain.ledger_records import (
    UnreadableLedger,
    facts_key,
    is_facts_key,
    ledger_from_records,
    records_to_write,
)
from tests.support.builders import PROVIDER, claim, plb, remittance

ORIGINAL = remittance("CHK100", "2026-01-10", [claim("PCN1", "1", "100.00", charge="150", pcn="ICN1")])
OTHER = remittance("CHK150", "2026-01-20", [claim("PCN7", "1", "70.00", pcn="ICN7")])
REVERSAL = remittance(
    "EFT200",
    "2026-02-01",
    [
        claim("PCN1", "22", "-100.00", charge="-150", pcn="ICN1"),
        claim("PCN1", "1", "80.00", charge="150", pcn="ICN1B", f8="ICN1"),
    ],
)


class Store(dict):
    """What the table holds: key bytes -> value bytes, written in order."""

    def write(self, ledger: ProviderLedger) -> list[bytes]:
        records = records_to_write(ledger)
        self.update(records)
        return [key for key, _ in records]

    def load(self) -> ProviderLedger:
        return ledger_from_records(self[PROVIDER.encode()], self.get)


def test_a_write_stores_only_the_new_remittances_facts_then_the_header() -> None:
    store, ledger = Store(), ProviderLedger(provider_id=PROVIDER)
    apply_remittance(ledger, ORIGINAL)
    apply_remittance(ledger, OTHER)
    first = store.write(ledger)
    apply_remittance(ledger, REVERSAL)
    second = store.write(ledger)

    assert [is_facts_key(k) for k in first] == [True, True, False]
    assert second == [facts_key(PROVIDER, 2), PROVIDER.encode()]  # not the earlier two again
    assert store.write(ledger) == [PROVIDER.encode()]  # nothing new: the header alone


def test_the_header_does_not_grow_with_history() -> None:
    """Its size is the same after one remittance and after many, takebacks included (they travel in the records)."""
    store, ledger = Store(), ProviderLedger(provider_id=PROVIDER)
    apply_remittance(ledger, ORIGINAL)
    store.write(ledger)
    first = store[PROVIDER.encode()]
    for day in range(11, 20):
        apply_remittance(ledger, remittance(f"CHK{day}", f"2026-01-{day}", [claim(f"P{day}", "1", "10.00")]))
    apply_remittance(ledger, REVERSAL)
    store.write(ledger)
    assert ledger.emitted
    assert len(store[PROVIDER.encode()]) <= len(first) + 1  # the count may gain a digit


def test_a_loaded_ledger_matches_and_counts_like_the_one_that_was_stored() -> None:
    store, ledger = Store(), ProviderLedger(provider_id=PROVIDER)
    apply_remittance(ledger, ORIGINAL)
    store.write(ledger)
    loaded = store.load()
    assert list(loaded.remittances) == list(ledger.remittances)
    assert loaded.trace_index == ledger.trace_index

    # the reversal links to the payment stored before, and a re-delivered remittance is a duplicate
    update = apply_remittance(loaded, REVERSAL)
    assert [t.original_trace_number for t in update.takebacks] == ["CHK100"]
    assert apply_remittance(loaded, ORIGINAL).outcome == "duplicate"
    store.write(loaded)
    again = store.load()
    assert cash_row(again) == cash_row(loaded)
    assert again.emitted == loaded.emitted


def test_the_facts_a_takeback_is_worked_with_survive_the_store() -> None:
    """Rules §3, §6, §8a: charge, CLP05, service dates, CLP09, RARCs, patient, payer name and PLB02 round-trip."""
    paid = claim("PCN9", "1", "90.00", charge="120", pcn="ICN9").model_copy(
        update={
            "patient_responsibility": Decimal("10.00"),
            "frequency_code": "8",
            "remark_codes": ["MA04"],
            "dates": [DateRef(qualifier="232", date=dt.date(2026, 1, 2)), DateRef(qualifier="233", date=None)],
            "patient": Patient(last_name="DOE", first_name="JANE", member_id="M1"),
        }
    )
    carried = plb("FB", "-5.00", "ICN9").model_copy(update={"fiscal_period_date": dt.date(2026, 12, 31)})
    sent = remittance("CHK900", "2026-01-10", [paid], [carried])
    sent = sent.model_copy(update={"payer": sent.payer.model_copy(update={"name": "SCENARIO HEALTH PLAN"})})
    store, ledger = Store(), ProviderLedger(provider_id=PROVIDER)
    apply_remittance(ledger, sent)
    store.write(ledger)

    stored = store.load().remittances[sent.remittance_id]
    fact = stored.claims[0]
    assert (fact.claim_charge(), fact.patient_responsibility, fact.frequency_code) == (120, Decimal("10.00"), "8")
    assert fact.service_dates == (dt.date(2026, 1, 2), dt.date(2026, 1, 2))
    assert "MA04" in fact.reason_codes and fact.patient == ("DOE, JANE", "M1")
    assert (stored.payer_name, stored.adjustments[0].fiscal_date) == ("SCENARIO HEALTH PLAN", dt.date(2026, 12, 31))
    assert stored == ledger.remittances[sent.remittance_id]


def test_facts_left_by_a_crash_before_the_header_count_for_nothing_and_are_rewritten() -> None:
    store, ledger = Store(), ProviderLedger(provider_id=PROVIDER)
    apply_remittance(ledger, ORIGINAL)
    store.write(ledger)
    apply_remittance(ledger, REVERSAL)
    records = records_to_write(ledger)
    store.update(records[:-1])  # the facts landed, the process died before the header

    restarted = store.load()
    assert REVERSAL.remittance_id not in restarted.remittances  # not counted
    update = apply_remittance(restarted, REVERSAL)  # the re-delivery applies it, once
    assert update.outcome == "applied" and len(update.takebacks) == 1
    assert facts_key(PROVIDER, 1) in store.write(restarted)
    assert list(store.load().remittances) == [ORIGINAL.remittance_id, REVERSAL.remittance_id]


def test_a_header_naming_facts_that_are_not_stored_is_a_clear_error() -> None:
    store, ledger = Store(), ProviderLedger(provider_id=PROVIDER)
    apply_remittance(ledger, ORIGINAL)
    store.write(ledger)
    good = store.pop(facts_key(PROVIDER, 0))
    with pytest.raises(UnreadableLedger, match="store is damaged"):
        store.load()
    store[facts_key(PROVIDER, 0)] = good.replace(b'"claims":[[', b'"claims":[[1,')
    with pytest.raises(UnreadableLedger, match="record is malformed"):
        store.load()


def test_a_value_in_an_earlier_format_is_refused_with_a_clear_error() -> None:
    ledger = ProviderLedger(provider_id=PROVIDER)
    apply_remittance(ledger, ORIGINAL)
    one_value = ledger.model_dump_json().encode()  # how a ledger was stored first
    listed = b'{"provider_id": "%s", "remittance_ids": ["R1"], "emitted": {}}' % PROVIDER.encode()  # then
    for earlier in (one_value, listed):
        with pytest.raises(UnreadableLedger, match="not in the format this version writes"):
            Store({PROVIDER.encode(): earlier}).load()


def test_a_takeback_revised_by_a_later_write_is_loaded_at_its_latest_revision() -> None:
    """Each record carries the revisions its remittance published; read in order, the later one wins."""
    store, ledger = Store(), ProviderLedger(provider_id=PROVIDER)
    apply_remittance(ledger, ORIGINAL)
    reversal_only = remittance("EFT200", "2026-02-01", [claim("PCN1", "22", "-100.00", charge="-150", pcn="ICN1")])
    (reversal,) = apply_remittance(ledger, reversal_only).takebacks
    store.write(ledger)
    correction = remittance("EFT300", "2026-02-05", [claim("PCN1", "1", "80.00", charge="150", pcn="ICN1")])
    (revised,) = apply_remittance(ledger, correction).takebacks
    store.write(ledger)

    assert (revised.event_id, revised.revision) == (reversal.event_id, 2)
    loaded = store.load()
    assert loaded.emitted == ledger.emitted
    assert loaded.emitted[reversal.event_id].revision == 2
    assert apply_remittance(loaded, reversal_only).takebacks == [ledger.emitted[reversal.event_id]]  # a duplicate


def test_a_claim_fact_with_every_field_set_round_trips_through_its_stored_row() -> None:
    fact = ClaimFact(
        claim_id="PCN1",
        status_code="22",
        payment=Decimal("-80.50"),
        pcn="ICN1",
        original_reference="ICN0",
        reason_codes=("CO-45", "MA04"),
        line_level=True,
        flags=("some_flag",),
        charge="-120.00",
        patient_responsibility=Decimal("12.5"),
        service_dates=(dt.date(2026, 1, 2), dt.date(2026, 1, 4)),
        frequency_code="8",
        patient=("DOE, JANE", "M1"),
        filing_indicator="MB",
    )
    row = json.loads(json.dumps(claim_row(fact)))
    assert len(row) == len(CLAIM_ROW_FIELDS)
    assert claim_from_row(row) == fact
    # a row stored before CLP06 was kept loads with its default
    assert claim_from_row(row[:-1]) == dataclasses.replace(fact, filing_indicator=None)
    with pytest.raises(InvalidRemittance, match="stored claim is malformed"):
        claim_from_row(row[:-3])


def test_a_restored_or_rederived_ledger_holds_one_object_per_unchanged_takeback() -> None:
    """Memory: the derived takeback equal to the published one replaces it, keeping the published revision."""
    store, ledger = Store(), ProviderLedger(provider_id=PROVIDER)
    apply_remittance(ledger, ORIGINAL)
    apply_remittance(ledger, REVERSAL)
    apply_remittance(ledger, OTHER)  # sorts before REVERSAL: the ledger re-derives, nothing changes
    assert all(ledger.state().takebacks[e] is t for e, t in ledger.emitted.items())
    store.write(ledger)

    loaded = store.load()
    state = loaded.state()
    assert loaded.emitted and all(state.takebacks[e] is t for e, t in loaded.emitted.items())
    assert loaded.emitted == ledger.emitted
