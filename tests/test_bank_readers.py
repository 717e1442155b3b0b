"""The NACHA and BAI2 readers: real files from the corpus, generated ones, bad records, and fuzzing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import DeadLetter, Deposit
from streams.domain.bank import BankReadResult, bank_file_format, read_bai2, read_bank_file, read_nacha
from streams.domain.bank.nacha import RECORD_LENGTH
from streams.domain.bank.result import DEPOSIT, BankFileReader
from streams.samples import PROJECT_ROOT
from tests.support.bank_files import BankPayment, bai2_file, nacha_file

BANK_CORPUS = PROJECT_ROOT / "corpus" / "bank"
PAYER = "1512345678"
PAYMENTS = [
    BankPayment("EFT0001", PAYER, Decimal("1094.00"), dt.date(2026, 1, 12), settlement_date=dt.date(2026, 1, 13)),
    BankPayment("EFT0002", PAYER, Decimal("0.07"), dt.date(2026, 1, 12), settlement_date=dt.date(2026, 1, 13)),
    BankPayment("EFT0003", "1999999999", Decimal("12500.5"), dt.date(2026, 1, 14)),
]


def corpus(name: str) -> bytes:
    return (BANK_CORPUS / name).read_bytes()


def records(data: bytes) -> list[str]:
    return data.decode("ascii").splitlines()


def rebuild(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode("latin-1")


def summary(result: BankReadResult) -> list[tuple]:
    return [(d.trace_number, d.payer_id, d.amount, d.effective_date, d.settlement_date) for d in result.deposits]


def check_contract(result: BankReadResult) -> None:
    """No exception got here; every record is accounted for; everything built is a valid event."""
    assert sum(result.records.values()) == result.total_records, (dict(result.records), result.total_records)
    for deposit in result.deposits:
        assert Deposit.model_validate_json(deposit.model_dump_json()) == deposit
        assert deposit.amount != 0 and deposit.deposit_date is not None
    for letter in result.dead_letters:
        assert DeadLetter.model_validate_json(letter.model_dump_json()) == letter
        assert letter.message and letter.error_code


# --------------------------------------------------------------------------- NACHA: the public files


@pytest.mark.parametrize("path", sorted(BANK_CORPUS.glob("*.ach")), ids=lambda p: p.name)
def test_public_nacha_files_read_whole_and_hold_no_claim_payment(path: Path) -> None:
    result = read_nacha(path.read_bytes(), file=path.name)
    check_contract(result)
    assert result.deposits == [] and result.dead_letters == []
    assert any("not healthcare claim payments" in notice for notice in result.notices)
    assert not any("does not match" in notice for notice in result.notices)  # their controls add up
    assert result.records["padding"] >= 4


def test_a_tax_payment_addenda_05_is_not_a_trn() -> None:
    result = read_nacha(corpus("moov_ccd_txp_addenda05.ach"))
    assert result.deposits == [] and result.records["skipped"] == 2  # the entry and its addenda


def test_a_short_record_is_read_padded_with_a_notice() -> None:
    result = read_nacha(corpus("moov_short_file_control.ach"))
    assert result.dead_letters == []
    assert any("shorter than 94" in notice for notice in result.notices)


# --------------------------------------------------------------------------- NACHA: generated CCD+


def test_ccd_plus_entries_field_by_field() -> None:
    result = read_nacha(nacha_file(PAYMENTS), file="bank.ach", source_id="s1")
    check_contract(result)
    assert result.dead_letters == [] and result.notices == []
    first = result.deposits[0]
    assert first.format == "nacha" and first.method == "ACH"
    assert (first.trace_number, first.payer_id, first.amount) == ("EFT0001", PAYER, Decimal("1094.00"))
    assert (first.effective_date, first.settlement_date) == (dt.date(2026, 1, 12), dt.date(2026, 1, 13))
    assert first.deposit_date == dt.date(2026, 1, 13)
    assert first.bank_reference == "011000010000001" and first.receiver_id == "910000001"
    assert first.account_last4 == "6789" and first.description == "HCCLAIMPMT"
    assert (first.source.file, first.source.source_id, first.source.line) == ("bank.ach", "s1", 3)
    assert summary(result)[1:] == [
        ("EFT0002", PAYER, Decimal("0.07"), dt.date(2026, 1, 12), dt.date(2026, 1, 13)),
        ("EFT0003", "1999999999", Decimal("12500.50"), dt.date(2026, 1, 14), None),
    ]
    assert result.records == {"structure": 6, "deposit": 6, "padding": 8}


@pytest.mark.parametrize("line_ending", ["\n", "\r\n", "\r", ""])
@pytest.mark.parametrize("blocking", [True, False])
def test_line_endings_and_blocking_do_not_change_the_deposits(line_ending: str, blocking: bool) -> None:
    baseline = read_nacha(nacha_file(PAYMENTS))
    result = read_nacha(nacha_file(PAYMENTS, line_ending=line_ending, blocking=blocking))
    check_contract(result)
    assert result.deposits == baseline.deposits if line_ending != "" else summary(result) == summary(baseline)
    assert result.dead_letters == []


def test_the_same_entry_read_again_has_the_same_id_and_another_entry_another() -> None:
    twice = [PAYMENTS[0], PAYMENTS[0]]
    first, second = read_nacha(nacha_file(twice)).deposits
    assert first.deposit_id != second.deposit_id  # two ACH entries (two trace numbers): two deposits
    assert read_nacha(nacha_file(twice), file="again.ach").deposits[0].deposit_id == first.deposit_id


def test_settlement_day_of_year_across_new_year() -> None:
    payment = BankPayment("EFT9", PAYER, Decimal(1), dt.date(2026, 12, 31), settlement_date=dt.date(2027, 1, 4))
    (deposit,) = read_nacha(nacha_file([payment])).deposits
    assert deposit.settlement_date == dt.date(2027, 1, 4)


def test_a_healthcare_entry_without_addenda_is_money_that_cannot_be_reassociated() -> None:
    (deposit,) = read_nacha(nacha_file(PAYMENTS[:1], with_addenda=False)).deposits
    assert deposit.trace_number is None and deposit.flags == ["no_trn"]


def test_a_trn_addenda_makes_a_claim_payment_whatever_the_description() -> None:
    payment = BankPayment("EFT7", PAYER, Decimal(5), dt.date(2026, 1, 5), description="CLAIMS PAY")
    (deposit,) = read_nacha(nacha_file([payment])).deposits
    assert deposit.trace_number == "EFT7" and deposit.description == "CLAIMS PAY"


def test_a_claim_payment_debit_is_a_negative_deposit_and_prenotes_are_skipped() -> None:
    lines = records(nacha_file(PAYMENTS[:2]))
    lines[2] = "627" + lines[2][3:]  # a debit: the money of a debit ERA (BPR03 D)
    lines[4] = "623" + lines[4][3:29] + "0" * 10 + lines[4][39:]  # a prenote
    result = read_nacha(rebuild(lines))
    check_contract(result)
    assert summary(result) == [("EFT0001", PAYER, Decimal("-1094.00"), dt.date(2026, 1, 12), dt.date(2026, 1, 13))]
    assert result.records["skipped"] == 2 and any("prenotes" in n for n in result.notices)


def test_debits_of_other_payments_are_still_skipped() -> None:
    result = read_nacha(corpus("moov_ccd_debit_vendor_pay.ach"))
    assert result.deposits == [] and result.dead_letters == []


def test_a_return_names_the_entry_it_returns_with_its_r_code() -> None:
    credit = BankPayment("EFT0001", PAYER, Decimal("1094.00"), dt.date(2026, 1, 12))
    (deposit,) = read_nacha(nacha_file([credit], first_trace=41)).deposits
    returned = BankPayment(
        "",
        PAYER,
        Decimal("1094.00"),
        dt.date(2026, 1, 15),
        transaction_code="21",
        return_reason="R03",
        returned_trace=deposit.bank_reference,
    )
    result = read_nacha(nacha_file([returned], first_trace=7), file="returns.ach")
    check_contract(result)
    (back,) = result.deposits
    assert (back.amount, back.return_reason, back.returned_trace) == (Decimal("-1094.00"), "R03", "011000010000041")
    assert back.trace_number is None and back.flags == [] and back.is_return and not deposit.is_return


def test_a_notification_of_change_moves_no_money() -> None:
    lines = records(nacha_file(PAYMENTS[:1]))
    lines[2] = "621" + lines[2][3:29] + "0" * 10 + lines[2][39:]
    lines[3] = "798" + "C01" + lines[3][6:]
    result = read_nacha(rebuild(lines))
    assert result.deposits == [] and result.dead_letters == []
    assert any("notifications of change" in n for n in result.notices)


@pytest.mark.parametrize(
    ("addenda", "code", "why"),
    [
        ("799" + "X03" + "011000010000041", "21", "not an R-code"),
        ("799" + "R03" + "01100001000004A", "21", "not 15 digits"),
        ("799" + "R03" + "011000010000041", "22", "which is not a return"),
        ("705" + "TRN*1*EFT0001*1512345678\\", "21", "without its return addenda"),
    ],
)
def test_a_bad_return_is_a_dead_letter_with_its_file_and_line(addenda: str, code: str, why: str) -> None:
    lines = records(nacha_file(PAYMENTS[:2]))
    lines[2] = "6" + code + lines[2][3:]
    lines[3] = addenda.ljust(83) + lines[3][83:]
    result = read_nacha(rebuild(lines), file="returns.ach")
    check_contract(result)
    (letter,) = result.dead_letters
    assert (letter.error_code, letter.source.file) == ("bad_return", "returns.ach")
    assert letter.source.line in (3, 4) and why in letter.message
    assert [d.trace_number for d in result.deposits] == ["EFT0002"]


# --------------------------------------------------------------------------- NACHA: bad records


def test_a_bad_amount_is_a_dead_letter_with_its_line_and_the_rest_flows() -> None:
    lines = records(nacha_file(PAYMENTS))
    lines[2] = lines[2][:29] + "00001X9400" + lines[2][39:]
    result = read_nacha(rebuild(lines), file="bank.ach")
    check_contract(result)
    (letter,) = result.dead_letters
    assert (letter.error_code, letter.source.line, letter.source.file) == ("bad_amount", 3, "bank.ach")
    assert "Line 3" in letter.message and letter.raw == "\n".join(lines[2:4])
    assert [d.trace_number for d in result.deposits] == ["EFT0002", "EFT0003"]
    assert any("does not match" in n for n in result.notices)
    assert all("batch_totals_mismatch" in d.flags for d in result.deposits if d.payer_id == PAYER)


def test_a_trn_without_payer_id_is_a_dead_letter() -> None:
    lines = records(nacha_file(PAYMENTS[:1]))
    lines[3] = "705" + "TRN*1*EFT0001\\".ljust(80) + lines[3][83:]
    (letter,) = read_nacha(rebuild(lines)).dead_letters
    assert letter.error_code == "bad_trn" and "TRN03" in letter.message and letter.source.line == 3


@pytest.mark.parametrize(
    ("edit", "code", "line"),
    [
        (lambda lines: [*lines[:2], lines[3], *lines[2:3], *lines[4:]], "orphan_addenda", 3),
        (lambda lines: [lines[0], *lines[2:]], "entry_outside_batch", 2),
        (lambda lines: [*lines[:2], "X" * RECORD_LENGTH, *lines[2:]], "unknown_record_type", 3),
        (lambda lines: [*lines[:2], lines[2] + "EXTRA", *lines[3:]], "bad_record_length", 3),
    ],
    ids=["orphan_addenda", "entry_outside_batch", "unknown_record_type", "bad_record_length"],
)
def test_structural_faults_are_dead_letters(edit: Callable[[list[str]], list[str]], code: str, line: int) -> None:
    result = read_nacha(rebuild(edit(records(nacha_file(PAYMENTS)))))
    check_contract(result)
    assert [(d.error_code, d.source.line) for d in result.dead_letters][:1] == [(code, line)]
    assert any(d.trace_number == "EFT0003" for d in result.deposits)  # the other batch flows


def test_an_empty_file_is_a_dead_letter_not_a_silent_nothing() -> None:
    (letter,) = read_nacha(b"").dead_letters
    assert letter.error_code == "not_nacha"


def test_a_truncated_file_keeps_its_entries_and_says_the_control_is_missing() -> None:
    data = rebuild(records(nacha_file(PAYMENTS))[:6])
    result = read_nacha(data)
    check_contract(result)
    assert summary(result) == summary(read_nacha(nacha_file(PAYMENTS)))[:2]
    cut_in_its_addenda = read_nacha(rebuild(records(nacha_file(PAYMENTS))[:5])).deposits[-1]
    assert cut_in_its_addenda.flags == ["no_trn", "addenda_missing"]
    assert any("has no control record" in n for n in result.notices)


def test_messages_never_hold_account_numbers_or_names() -> None:
    lines = records(nacha_file(PAYMENTS))
    lines[2] = lines[2][:29] + "ABCDEFGHIJ" + lines[2][39:]
    for letter in read_nacha(rebuild(lines)).dead_letters:
        assert "123456789" not in letter.message and "SCENARIO CLINIC" not in letter.message


# --------------------------------------------------------------------------- BAI2


def test_bai2_details_with_trn_text_and_check_deposits() -> None:
    check = BankPayment("-", "-", Decimal("150"), dt.date(2026, 1, 14), check_number="0000123456")
    result = read_bai2(bai2_file([*PAYMENTS, check]), file="statement.bai")
    check_contract(result)
    assert result.dead_letters == [] and result.notices == []
    assert [
        (d.method, d.trace_number, d.payer_id, d.check_number, d.amount, d.deposit_date) for d in result.deposits
    ] == [
        ("ACH", "EFT0001", PAYER, None, Decimal("1094.00"), dt.date(2026, 1, 13)),
        ("ACH", "EFT0002", PAYER, None, Decimal("0.07"), dt.date(2026, 1, 13)),
        ("ACH", "EFT0003", "1999999999", None, Decimal("12500.50"), dt.date(2026, 1, 14)),
        ("CHK", None, None, "0000123456", Decimal("150.00"), dt.date(2026, 1, 14)),
    ]
    assert result.deposits[0].source.line == 4 and result.deposits[0].account_last4 == "6789"


def test_a_trn_cut_by_a_continuation_reads_whole() -> None:
    whole = read_bai2(bai2_file(PAYMENTS))
    split = read_bai2(bai2_file(PAYMENTS, split_text=True, line_ending="\r\n"))
    check_contract(split)
    assert summary(split) == summary(whole) and split.records["deposit"] == 6


def test_funds_types_with_availability_and_commas_in_the_text() -> None:
    text = "\n".join(
        [
            "01,BANK,PRACTICE,260114,0600,1,,,2/",
            "02,PRACTICE,BANK,1,260114,0600,USD,2/",
            "03,000111222333,USD,/",
            "16,165,5000,V,260115,0900,REF1,,HCCLAIMPMT, PAYER, INC TRN*1*EFT1*1512345678\\",
            "16,165,7000,S,7000,0,0,REF2,,TRN*1*EFT2*1512345678*999999999\\",
            "16,169,100,D,2,0,50,1,50,REF3,,TRN*1*EFT3*1512345678\\",
            "16,475,100,0,REF4,5555,CHECK PAID",
            "16,195,300,Z,REF5,,INTEREST",
            "49,12500,7/",
            "98,12500,1,9/",
            "99,12500,1,12/",
        ]
    )
    result = read_bai2(text.encode())
    check_contract(result)
    assert [(d.trace_number, d.amount, d.deposit_date) for d in result.deposits] == [
        ("EFT1", Decimal("50.00"), dt.date(2026, 1, 15)),
        ("EFT2", Decimal("70.00"), dt.date(2026, 1, 14)),
        ("EFT3", Decimal("1.00"), dt.date(2026, 1, 14)),
    ]
    assert result.records["skipped"] == 2 and result.dead_letters == []
    assert not any("does not match" in n for n in result.notices)


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("16,165,12X0,0,R,,TRN*1*EFT9*1512345678\\", "bad_amount"),
        ("16,165,1200,D,5,R", "malformed_record"),
        ("16,165,1200,0,R,,TRN*1*EFT9\\", "bad_trn"),
        ("77,HELLO/", "unknown_record_type"),
        ("NOT A RECORD", "malformed_record"),
    ],
)
def test_bai2_bad_records_are_dead_letters_and_the_rest_flows(line: str, code: str) -> None:
    lines = records(bai2_file(PAYMENTS))
    lines.insert(3, line)
    result = read_bai2(rebuild(lines), file="statement.bai")
    check_contract(result)
    (letter,) = result.dead_letters
    assert (letter.error_code, letter.source.line, letter.source.file) == (code, 4, "statement.bai")
    assert len(result.deposits) == 3


def test_bai2_detail_outside_an_account_and_orphan_continuation() -> None:
    result = read_bai2(b"88,TRN*1*X*1512345678\\\n16,165,100,0,R,,TRN*1*X*1512345678\\\n")
    check_contract(result)
    # a fragment with no trailers is also a file cut short
    assert [d.error_code for d in result.dead_letters] == ["orphan_continuation", "detail_outside_account", "truncated"]


def test_a_bai2_file_cut_inside_an_account_is_a_dead_letter_and_that_accounts_deposits_are_not_applied() -> None:
    """It was accepted silently: the last detail may be cut mid-amount, and no trailer checks the account."""
    lines = records(bai2_file(PAYMENTS))
    cut = lines[: lines.index(next(x for x in lines if "EFT0003" in x)) + 1]  # no 49, 98, 99 after the last detail
    result = read_bai2(rebuild(cut), file="cut.bai")
    check_contract(result)
    (letter,) = result.dead_letters
    assert (letter.error_code, letter.source.file, letter.source.line, letter.source.segment_tag) == (
        "truncated",
        "cut.bai",
        9,  # the account (03) the file ends in
        "03",
    )
    assert "cut short" in letter.message and "1 deposits were not applied" in letter.message
    assert "123456789" not in letter.message  # never an account number in a message
    assert [d.trace_number for d in result.deposits] == ["EFT0001", "EFT0002"]  # the account closed by its 49
    assert result.records["dead_letter"] == 1 and result.records["deposit"] == 2


def test_a_bai2_file_without_its_file_trailer_is_a_dead_letter_and_checked_accounts_still_apply() -> None:
    lines = records(bai2_file(PAYMENTS))[:-2]  # no 98 and no 99 after the last account's 49
    result = read_bai2(rebuild(lines), file="cut.bai")
    check_contract(result)
    (letter,) = result.dead_letters
    assert (letter.error_code, letter.source.line, letter.source.segment_tag) == ("truncated", 11, "49")
    assert "without its file trailer (99)" in letter.message
    assert len(result.deposits) == 3


def test_bai2_group_without_as_of_date_cannot_date_its_deposits() -> None:
    lines = records(bai2_file(PAYMENTS[:1]))
    lines[1] = "02,PRACTICE,BANKID,1,,0600,USD,2/"
    result = read_bai2(rebuild(lines))
    check_contract(result)
    assert [d.error_code for d in result.dead_letters] == ["bad_date"]


def test_bai2_account_totals_that_do_not_add_up_flag_the_deposits() -> None:
    lines = records(bai2_file(PAYMENTS[:1]))
    lines = [line.replace("49,109400,", "49,109401,") for line in lines]
    result = read_bai2(rebuild(lines))
    assert result.deposits[0].flags == ["account_totals_mismatch"]


# --------------------------------------------------------------------------- telling files apart


def test_bank_files_are_told_apart_by_content() -> None:
    assert bank_file_format(nacha_file(PAYMENTS)) == "nacha"
    assert bank_file_format(nacha_file(PAYMENTS, line_ending="")) == "nacha"
    assert bank_file_format(b"\xef\xbb\xbf" + bai2_file(PAYMENTS)) == "bai2"
    assert bank_file_format(corpus("moov_ppd_debit_blocked.ach")) == "nacha"
    assert bank_file_format(b"ISA*00*          *00*") is None
    assert bank_file_format(b"1" * 200) is None
    assert bank_file_format(b"") is None
    assert summary(read_bank_file(bai2_file(PAYMENTS))) == summary(read_bai2(bai2_file(PAYMENTS)))


# --------------------------------------------------------------------------- fuzzing: never an exception, nothing lost

NACHA_SAMPLES = [nacha_file(PAYMENTS), corpus("moov_ccd_txp_addenda05.ach"), nacha_file(PAYMENTS, line_ending="")]
BAI2_SAMPLES = [bai2_file(PAYMENTS, split_text=True), bai2_file(PAYMENTS)]
READERS = [read_nacha, read_bai2]
FLIPS = st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), min_size=1, max_size=8)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(READERS), st.binary(max_size=2000))
def test_any_bytes_give_a_result(reader: Callable[[bytes], BankReadResult], data: bytes) -> None:
    check_contract(reader(data))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([(read_nacha, s) for s in NACHA_SAMPLES] + [(read_bai2, s) for s in BAI2_SAMPLES]), st.data())
def test_truncation_at_any_point(sample: tuple, data: st.DataObject) -> None:
    reader, original = sample
    check_contract(reader(original[: data.draw(st.integers(min_value=0, max_value=len(original)))]))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([(read_nacha, s) for s in NACHA_SAMPLES] + [(read_bai2, s) for s in BAI2_SAMPLES]), FLIPS)
def test_byte_flips(sample: tuple, flips: list[tuple[int, int]]) -> None:
    reader, original = sample
    mutated = bytearray(original)
    for position, value in flips:
        mutated[position % len(mutated)] = value
    check_contract(reader(bytes(mutated)))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([*records(nacha_file(PAYMENTS)), "7" * 94, "5" + " " * 93, "6"])))
def test_any_record_soup_gives_a_result(lines: list[str]) -> None:
    check_contract(read_nacha(rebuild(lines)))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([*records(bai2_file(PAYMENTS, split_text=True)), "88,x", "16,", "03,/", ","])))
def test_any_bai2_record_soup_gives_a_result(lines: list[str]) -> None:
    check_contract(read_bai2(rebuild(lines)))


def test_a_reader_bug_dead_letters_the_whole_file_instead_of_losing_it() -> None:
    class Broken(BankFileReader):
        def read(self, data: bytes) -> None:
            self.result.total_records = 3
            self.result.records[DEPOSIT] += 1
            raise RuntimeError("a bug")

    result = Broken("bank.ach", "src-1").read_all(b"line one\nline two\nline three\n")
    (dead,) = result.dead_letters
    assert dead.error_code == "internal_error" and "RuntimeError" in dead.message
    assert dead.raw == "line one\nline two\nline three\n" and dead.source.file == "bank.ach"
    assert sum(result.records.values()) == result.total_records == 3
