"""The ledger key (rules §5): the NPIs of one TIN share a ledger, and the TIN itself never shows in the key."""

from __future__ import annotations

from streams.domain.ids import LEDGER_KEY_PREFIX, ledger_key


def test_npis_of_one_tin_share_a_ledger_whatever_the_tin_is_written_like() -> None:
    north = ledger_key("1000000434", "910000043")
    assert north == ledger_key("1000001432", "910000043")
    assert north == ledger_key("1000001432", "91-0000043 ")
    assert north.startswith(LEDGER_KEY_PREFIX)
    assert "910000043" not in north and "0000043" not in north  # a sole proprietor's TIN is an SSN


def test_n104_is_the_tin_when_n103_is_fi() -> None:
    assert ledger_key("910000043", None, "FI") == ledger_key("1000000434", "910000043")
    assert ledger_key("910000043", None, "XX") == "910000043"  # an NPI qualifier: not a TIN


def test_a_payee_with_no_tin_has_a_ledger_of_its_own() -> None:
    assert ledger_key("1000000434") == "1000000434"
    assert ledger_key("1000000434", "") == "1000000434"
    assert ledger_key("1000000434", "--") == "1000000434"  # nothing of a number left: no TIN


def test_other_tins_have_other_ledgers() -> None:
    assert ledger_key("1000000434", "910000043") != ledger_key("1000000434", "920000043")
