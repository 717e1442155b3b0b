"""Rules §2: versions of one payment routed to two ledgers (REF*TJ added or dropped) still count once, no broker."""

from __future__ import annotations

import datetime as dt

from streams.domain.facts import facts_of
from streams.domain.ids import ledger_key
from streams.domain.ledger import ProviderLedger, apply_remittance, cash_row
from streams.domain.ledger_records import ledger_from_records, records_to_write
from streams.domain.offline import apply_all
from streams.domain.payee_ledgers import HELD, REPLACED, DictDirectory, offers, take_offer
from tests.support.builders import PROVIDER, claim, remittance

TIN = "910000099"
WITHOUT_TIN = remittance("EFT9901", "2026-03-02", [claim("PCN1", "1", "300.00", pcn="ICN1")], effective="2026-03-04")


def with_tin(generated: dt.datetime | None = None):
    """The same payment re-issued with REF*TJ: another body (the TIN), the same payer, TRN02, NPI, BPR02, BPR16."""
    copy = remittance(
        "EFT9901", "2026-03-02", [claim("PCN1", "1", "300.00", pcn="ICN1")], effective="2026-03-04", tin=TIN
    )
    return copy.model_copy(update={"remittance_id": copy.remittance_id + "-tj", "generated_at": generated})


def test_an_npi_reaching_one_ledger_is_offered_nowhere_and_a_second_ledger_is_offered_first() -> None:
    directory = DictDirectory()
    own, tin = ledger_key(PROVIDER), ledger_key(PROVIDER, TIN)
    assert offers(directory, PROVIDER, own) == []
    assert offers(directory, PROVIDER, own) == []
    assert offers(directory, PROVIDER, tin) == [own, tin]
    assert offers(directory, PROVIDER, own) == [tin, own]
    assert offers(directory, None, tin) == []  # a payee named by its TIN only: one ledger, nothing to offer


def test_a_later_copy_offered_to_the_ledger_of_an_earlier_one_replaces_it_there() -> None:
    ledger = ProviderLedger(provider_id=ledger_key(PROVIDER))
    apply_remittance(ledger, WITHOUT_TIN)
    assert cash_row(ledger, PROVIDER).net_cash == 300
    later = facts_of(with_tin(dt.datetime(2026, 3, 6, 12)))
    taken = take_offer(ledger, later)
    assert taken is not None and taken[0] == HELD
    assert ledger.elsewhere == {WITHOUT_TIN.remittance_id: REPLACED}
    row = cash_row(ledger, PROVIDER)
    assert row.net_cash == 0 and row.flags == {"reissued": 1}
    assert take_offer(ledger, facts_of(remittance("EFT9902", "2026-03-02", [claim("PCN2", "1", "5.00")]))) is None


def test_an_earlier_copy_offered_to_the_ledger_of_a_later_one_is_replaced_at_home() -> None:
    ledger = ProviderLedger(provider_id=ledger_key(PROVIDER, TIN))
    apply_remittance(ledger, with_tin(dt.datetime(2026, 3, 6, 12)))
    taken = take_offer(ledger, facts_of(WITHOUT_TIN))
    assert taken is not None and taken[0] == REPLACED
    assert cash_row(ledger, PROVIDER).net_cash == 300
    home = ProviderLedger(provider_id=ledger_key(PROVIDER))
    apply_remittance(home, WITHOUT_TIN, elsewhere=REPLACED)
    assert cash_row(home, PROVIDER).net_cash == 0 and cash_row(home, PROVIDER).flags == {"reissued": 1}


def test_the_marks_are_stored_with_the_ledger_and_raise_its_revision() -> None:
    ledger = ProviderLedger(provider_id=ledger_key(PROVIDER))
    apply_remittance(ledger, WITHOUT_TIN)
    store = dict(records_to_write(ledger))
    before = ledger.revision
    take_offer(ledger, facts_of(with_tin(dt.datetime(2026, 3, 6, 12))))
    assert ledger.revision == before + 1
    store.update(records_to_write(ledger))
    restored = ledger_from_records(store[ledger.provider_id.encode()], store.get)
    assert restored.elsewhere == ledger.elsewhere
    assert cash_row(restored, PROVIDER).net_cash == 0


def test_in_either_order_the_payment_counts_once_in_two_ledgers() -> None:
    copies = [WITHOUT_TIN, with_tin(dt.datetime(2026, 3, 6, 12))]
    for order in (copies, copies[::-1]):
        result = apply_all(order)
        assert result.net_cash[PROVIDER].net_cash == 300
        assert result.net_cash[PROVIDER].flags == {"reissued": 2}
