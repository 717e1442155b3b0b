"""The small rules the matching core is built from, each tested in its own home (rules §2-§8a)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from streams.domain.cash import invariant_holds
from streams.domain.claim_index import PaymentRecord
from streams.domain.claim_matching import classify
from streams.domain.disbursement import moves_money, signed_amount, takeback_date, zero_payment_allowed
from streams.domain.facts import ClaimFact, PlbFact, RemittanceFacts, facts_of
from streams.domain.ids import ledger_key, stable_id
from streams.domain.ledger import ProviderLedger, apply_remittance, cash_row
from streams.domain.ledger_records import ledger_from_records, records_to_write
from streams.domain.npi import is_valid_npi
from streams.domain.offline import apply_all
from streams.domain.plb_pairing import pair_adjustments
from streams.domain.references import claims_named_by, reference_tokens
from streams.domain.x12 import read_835
from tests.support.builders import PROVIDER, claim, plb, remittance

# --------------------------------------------------------------------------- the payment (BPR)


@pytest.mark.parametrize(
    ("code", "amount", "moved"),
    [
        ("C", "0", True),
        ("D", "10", True),
        ("U", "0", True),
        ("I", "10", True),
        ("I", "0", False),
        ("X", "0.01", True),
        ("X", "0", False),
        ("H", "10", False),
        ("P", "10", False),
    ],
)
def test_moved_money_follows_the_handling_code_and_the_amount(code: str, amount: str, moved: bool) -> None:
    assert moves_money(code, Decimal(amount)) is moved


def test_only_h_and_p_may_carry_a_zero_payment() -> None:
    assert [code for code in "CDHIPUX" if zero_payment_allowed(code)] == ["H", "P"]


def test_a_debit_reaches_the_bank_negative() -> None:
    assert signed_amount(Decimal("12.50"), "D") == Decimal("-12.50")
    assert signed_amount(Decimal("12.50"), "C") == Decimal("12.50")
    assert signed_amount(Decimal("12.50"), None) == Decimal("12.50")


def test_a_takeback_counts_from_the_production_date_else_the_effective_date() -> None:
    produced, effective = dt.date(2026, 3, 1), dt.date(2026, 3, 4)
    assert takeback_date(produced, effective) == produced
    assert takeback_date(None, effective) == effective
    assert takeback_date(None, None) is None


def test_facts_carry_the_payment_rules() -> None:
    paid = remittance("EFT1", "2026-03-01", [claim("PCN1", "1", "40")], effective="2026-03-04")
    paid.production_date = None
    facts = facts_of(paid)
    assert (facts.moved_money, facts.net_cash, facts.takeback_date) == (True, Decimal("40"), dt.date(2026, 3, 4))
    not_moved = facts_of(remittance("EFT2", "2026-03-01", [claim("PCN2", "1", "40")], handling="H"))
    assert (not_moved.moved_money, not_moved.net_cash) == (False, Decimal("0"))


# --------------------------------------------------------------------------- PLB references and pairs


def test_a_reference_is_its_whole_text_and_each_token_in_it() -> None:
    assert reference_tokens(" ICN1, PCN2/X ") == frozenset({"ICN1, PCN2/X", "ICN1", "PCN2", "X"})
    assert reference_tokens(None) == frozenset() and reference_tokens("") == frozenset()


def adjustment(code: str, amount: str, reference: str | None) -> PlbFact:
    return PlbFact(provider_id=PROVIDER, reason_code=code, reference=reference, amount=Decimal(amount))


def test_72_pays_back_a_wo_and_b2_an_fb_on_the_same_reference() -> None:
    pairs = pair_adjustments(
        [
            adjustment("WO", "50", "ICN1"),
            adjustment("72", "-50", "ICN1"),
            adjustment("FB", "30", "ICN2"),
            adjustment("B2", "-30", "ICN2"),
        ]
    )
    assert (pairs.refunds, pairs.partner_of) == ({1, 3}, {0: 1, 2: 3})


def test_72_pays_back_an_fb_on_its_reference_only() -> None:
    """Rules §4 (RFI 1374): a 72 beside a positive FB with its reference is the balance paid by check."""
    pairs = pair_adjustments(
        [adjustment("FB", "30", "ICN2"), adjustment("72", "-30", "ICN2"), adjustment("WO", "50", "ICN9")]
    )
    assert (pairs.refunds, pairs.write_offs, pairs.partner_of) == ({1}, set(), {0: 1})


def test_72_does_not_pay_a_wo_on_another_reference() -> None:
    pairs = pair_adjustments([adjustment("72", "-30", "ICN2"), adjustment("WO", "50", "ICN9")])
    assert (pairs.refunds, pairs.write_offs, pairs.partner_of) == (set(), set(), {})


def test_a_payer_write_off_forgives_a_wo_whatever_its_reference() -> None:
    pairs = pair_adjustments([adjustment("WO", "50", "ICN1"), adjustment("CS", "-50", "Payer Write-Off")])
    assert (pairs.write_offs, pairs.partner_of) == ({1}, {0: 1})
    assert pair_adjustments([adjustment("WO", "50", "ICN1"), adjustment("CS", "-50", "ICN1")]).partner_of == {}


# --------------------------------------------------------------------------- reversal or recoupment


def facts(trace: str, day: str, *, moved: bool = True) -> RemittanceFacts:
    date = dt.date.fromisoformat(day)
    return RemittanceFacts(
        remittance_id=f"r-{trace}",
        trace_number=trace,
        payer_id="P",
        moved_money=moved,
        net_cash=Decimal("0"),
        effective_date=date,
        takeback_date=date,
    )


def paid_in(remittance_facts: RemittanceFacts) -> PaymentRecord:
    return PaymentRecord(remittance_facts, ClaimFact("PCN1", "1", Decimal("100")), 0)


def test_a_takeback_of_a_disbursed_payment_is_a_recoupment_else_a_reversal() -> None:
    takeback = facts("EFT2", "2026-03-01")
    assert classify(takeback, paid_in(facts("CHK1", "2026-02-01"))) == ("recoupment", "offset")
    assert classify(takeback, paid_in(takeback)) == ("reversal", "none")  # same remittance
    assert classify(takeback, paid_in(facts("CHK1", "2026-02-01", moved=False))) == ("reversal", "none")
    assert classify(takeback, paid_in(facts("CHK1", "2026-03-02"))) == ("reversal", "none")  # paid after
    assert classify(takeback, None) == ("recoupment", "offset")  # an orphan, until its original arrives


# --------------------------------------------------------------------------- identity


def test_npis_carry_a_luhn_check_digit() -> None:
    assert is_valid_npi("1234567893") and is_valid_npi("1245319599")
    assert not is_valid_npi("1234567890")  # wrong check digit
    assert not is_valid_npi("123456789") and not is_valid_npi("12345678930") and not is_valid_npi("12345678a3")


def test_stable_ids_are_32_hex_characters_that_depend_on_every_part() -> None:
    an_id = stable_id("provider", "remittance", "claim", "0")
    assert an_id == stable_id("provider", "remittance", "claim", "0")
    assert len(an_id) == 32 and set(an_id) <= set("0123456789abcdef")
    assert an_id != stable_id("provider", "remittance", "claim", "1")


def test_a_reused_trace_number_is_flagged_also_after_the_ledger_is_stored_and_loaded() -> None:
    ledger = ProviderLedger(provider_id=PROVIDER)
    apply_remittance(ledger, remittance("EFT1", "2026-03-01", [claim("PCN1", "1", "40")]))
    store = dict(records_to_write(ledger))
    loaded = ledger_from_records(store[PROVIDER.encode()], store.get)
    apply_remittance(loaded, remittance("EFT1", "2026-03-02", [claim("PCN2", "1", "0")], handling="H"))
    assert cash_row(loaded).flags == {"reused_trace_number": 1}


# --------------------------------------------------------------------------- corrections and references (rules §3, §4)


def test_a_claim_corrected_then_reversed_again_in_one_remittance_links_each_correction() -> None:
    """Rules §3: [reversal, correction, reversal of that correction, new correction] in one 835: each reversal gets
    the correction below it; the first correction is the second reversal's original, not a correction listed above."""
    ledger = ProviderLedger(provider_id=PROVIDER)
    apply_remittance(ledger, remittance("CHK1", "2026-01-05", [claim("P1", "1", "100", charge="150", pcn="I1")]))
    update = apply_remittance(
        ledger,
        remittance(
            "EFT2",
            "2026-02-05",
            [
                claim("P1", "22", "-100", charge="-150", pcn="I1"),
                claim("P1", "1", "80", charge="150", pcn="I1C", f8="I1"),
                claim("P1", "22", "-80", charge="-150", pcn="I1C"),
                claim("P1", "1", "90", charge="150", pcn="I1CC", f8="I1C"),
            ],
        ),
    )
    links = sorted((t.amount, t.original_trace_number, t.correction_payment) for t in update.takebacks)
    assert links == [(Decimal("80"), "EFT2", Decimal("90")), (Decimal("100"), "CHK1", Decimal("80"))]


def test_one_claim_is_its_payments_linked_by_clp07_or_correction_not_its_account_number() -> None:
    """Rules §4: the correction of a reversal (a new CLP07) is a payment of the same claim; a later payment that only
    reuses the CLP01 (another patient, past the correction wait) is another claim, even with the same charge."""
    ledger = ProviderLedger(provider_id=PROVIDER)
    apply_remittance(ledger, remittance("EFT1", "2026-01-05", [claim("A1", "1", "100", charge="150", pcn="I1")]))
    reversed_and_corrected = [
        claim("A1", "22", "-100", charge="-150", pcn="I1"),
        claim("A1", "1", "80", charge="150", pcn="I1B"),
    ]
    apply_remittance(ledger, remittance("EFT2", "2026-02-02", reversed_and_corrected))
    apply_remittance(ledger, remittance("EFT3", "2026-04-06", [claim("A1", "1", "100", charge="150", pcn="I9")]))
    state, payer = ledger.state(), remittance("X", "2026-01-05").payer.id

    def named(reference: str) -> frozenset:
        return claims_named_by(state, payer, reference_tokens(reference))

    assert named("I1B") == named("I1") != frozenset()
    assert named("I9").isdisjoint(named("I1")) and named("I9")


def test_a_medicare_fcn_names_the_claim_of_its_icn_and_short_tokens_name_none() -> None:
    """Rules §4: an FCN is the ICN with a two-character prefix; a short token stripped names no claim by chance."""
    ledger = ProviderLedger(provider_id=PROVIDER)
    paid = [claim("P1", "1", "100", pcn="2126005001230"), claim("P2", "1", "50", pcn="77")]
    apply_remittance(ledger, remittance("CHK1", "2026-01-05", paid))
    state, payer = ledger.state(), remittance("X", "2026-01-05").payer.id

    def named(reference: str) -> set[str]:
        return {ref[1] for ref in claims_named_by(state, payer, reference_tokens(reference))}

    assert named("502126005001230") == {"P1"}
    assert named("AB77") == set()
    assert named("LETTER1 P2") == {"P2"}


@pytest.mark.parametrize("with_patients", [False, True])
def test_a_takeback_names_the_patient_only_when_ingest_kept_patient_data(with_patients: bool) -> None:
    """Rules §8a and the patient-data rule: the name and member id come from the remittance, which has them only
    when the operator turned TAKEBACK_INCLUDE_PATIENT_DATA on at ingest."""
    folder = Path(__file__).parent / "scenarios" / "41_deferred_wo_paid_by_check_b2"
    ledger = ProviderLedger(provider_id="1000000418")
    published = {}
    for path in sorted(folder.glob("*.835")):
        for sent in read_835(path.read_bytes(), file=path.name, include_patient_data=with_patients).remittances:
            published.update((t.event_id, t) for t in apply_remittance(ledger, sent).takebacks)
    (takeback,) = [t for t in published.values() if t.claim_id == "PCN4101"]
    expected = ("DOE, JANE", "M0000") if with_patients else (None, None)
    assert (takeback.patient_name, takeback.member_id) == expected
    assert (takeback.status, takeback.method, takeback.remaining) == ("settled", "refund", None)


def test_a_recovery_that_a_late_balance_explains_is_withdrawn_with_that_status() -> None:
    """Rules §8a: a WO taken for a recoupment until an earlier FB arrives late is withdrawn, and says so."""
    ledger = ProviderLedger(provider_id=PROVIDER)
    paid = remittance("CHK1", "2026-01-05", [claim("P1", "1", "100", pcn="I1")])
    recovery = remittance("EFT3", "2026-03-05", [claim("P3", "1", "200", pcn="I3")], [plb("WO", "50", "BAL9")])
    carried = remittance("EFT2", "2026-02-05", [claim("P2", "1", "20", pcn="I2")], [plb("FB", "-50", "BAL9")])
    apply_remittance(ledger, paid)
    (taken,) = apply_remittance(ledger, recovery).takebacks
    assert (taken.status, taken.claim_id) == ("needs_review", None)  # a recovery that names no known claim
    (withdrawn,) = apply_remittance(ledger, carried).takebacks
    assert (withdrawn.event_id, withdrawn.withdrawn, withdrawn.status) == (taken.event_id, True, "withdrawn")


# --------------------------------------------------------------------------- sibling NPIs of one TIN (rules §5)

NORTH, SOUTH, TIN = "1000000434", "1000001432", "910000043"


def test_a_claim_reversal_matches_only_its_own_npis_payments_though_the_tin_shares_a_ledger() -> None:
    """Account numbers (CLP01) are the practice's own and collide across NPIs; a payer reverses a claim to the NPI it
    paid. So SOUTH's reversal of 'ACCT1' is an orphan, not a takeback of NORTH's 'ACCT1' of the same amount."""
    result = apply_all(
        [
            remittance("T1", "2026-01-05", [claim("ACCT1", "1", "100")], provider=NORTH, tin=TIN),
            remittance(
                "T2", "2026-02-05", [claim("ACCT9", "1", "300"), claim("ACCT1", "22", "-100")], provider=SOUTH, tin=TIN
            ),
        ]
    )
    (reversal,) = result.takebacks.values()
    assert (reversal.provider_id, reversal.payee_provider_id) == (SOUTH, SOUTH)
    assert reversal.original_trace_number is None and "original_not_found" in reversal.flags
    assert result.net_cash[SOUTH].recouped == Decimal("100") and result.net_cash[NORTH].recouped == Decimal("0")


def test_a_balance_one_npi_carries_is_settled_by_its_own_payments_only() -> None:
    """Cash rows stay per NPI (rules §5, §8): SOUTH applying an FB of the same reference does not pay NORTH's."""
    ledgers: dict[str, ProviderLedger] = {}
    apply_all(
        [
            remittance(
                "T1", "2026-01-05", [claim("A", "1", "100")], [plb("FB", "-40", "REF1", NORTH)], provider=NORTH, tin=TIN
            ),
            remittance(
                "T2", "2026-02-05", [claim("B", "1", "100")], [plb("FB", "40", "REF1", SOUTH)], provider=SOUTH, tin=TIN
            ),
        ],
        ledgers=ledgers,
    )
    (ledger,) = ledgers.values()
    north, south = cash_row(ledger, NORTH), cash_row(ledger, SOUTH)
    assert (north.forward_balance, south.forward_balance) == (Decimal("40"), Decimal("-40"))
    assert north.open_by_age["0-30"] + north.open_by_age["31-60"] == Decimal("40")  # NORTH still owes it
    assert north.ledger_key == south.ledger_key != NORTH
    assert invariant_holds(north) and invariant_holds(south)


def test_siblings_paid_under_one_trace_number_are_two_payments_not_a_reissue() -> None:
    """Rules §2: a re-issue is the same payment to the same payee; two NPIs of a TIN in one ledger are two payees."""
    result = apply_all(
        [
            remittance("T7", "2026-01-05", [claim("A", "1", "100")], provider=NORTH, tin=TIN),
            remittance("T7", "2026-01-05", [claim("B", "1", "100")], provider=SOUTH, tin=TIN),
        ]
    )
    for npi in (NORTH, SOUTH):
        row = result.net_cash[npi]
        assert (row.net_cash, row.flags) == (Decimal("100"), {}), npi


def test_an_npi_under_two_tins_has_the_sum_of_both_ledgers_in_any_order() -> None:
    """Rules §5, §8: each TIN's ledger has a share of the NPI's row; the row is their sum, in any arrival order."""
    first = remittance("T1", "2026-01-05", [claim("A", "1", "100")], provider=NORTH, tin=TIN)
    second = remittance("T2", "2026-01-06", [claim("B", "1", "70")], provider=NORTH, tin="920000043")
    rows = [apply_all(order).net_cash[NORTH] for order in ([first, second], [second, first])]
    keys = {ledger_key(NORTH, TIN), ledger_key(NORTH, "920000043")}
    assert rows[0] == rows[1]
    assert (rows[0].net_cash, rows[0].revision, rows[0].ledger_key) == (Decimal("170"), 2, min(keys))
