"""Unit tests of the X12 835 reader on small 835 texts written here."""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import re
from collections import Counter
from decimal import Decimal, localcontext

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.events import (
    Adjustment,
    DeadLetter,
    Remittance,
)
from streams.domain.x12 import ReadResult, builders, read_835
from streams.domain.x12 import reader as reader_module
from streams.domain.x12.identity import remittance_id
from streams.domain.x12.tokenizer import Delimiters, isa_delimiters, st_delimiters
from streams.samples import CORPUS_DIR
from tests.support.synthetic import synthetic_835

# --------------------------------------------------------------------------- building 835 texts

PARTIES = "ISA*00*          *00*          *ZZ*PAYERID        *ZZ*PAYEEID        "
ISA_5010 = PARTIES + "*261101*1200*^*00501*000000001*0*P*:"
ISA_4010 = PARTIES + "*261101*1200*U*00401*000000001*0*P*:"

# A balanced 5010 payment: BPR02 1,094.00 = CLP04 (1,000.00 + 144.00) - PLB (WO 60.00 + L6 -10.00).
BODY_5010 = [
    "BPR*I*1094.00*C*ACH*CCP*01*999999992*DA*123456*1512345678**01*999988880*DA*98765*20261101",
    "TRN*1*EFT0001*1512345678",
    "REF*EV*RECEIVER",
    "DTM*405*20261030",
    "N1*PR*ACME HEALTH PLAN*XV*87726",
    "N3*1 PAYER WAY",
    "N4*ANYTOWN*PA*17111",
    "REF*2U*87726",
    "N1*PE*GOOD CLINIC*XX*1234567893",
    "REF*TJ*123456789",
    "LX*1",
    "CLP*PCN001*1*1500.00*1000.00*200.00*12*ICN0001*11*1",
    "CAS*CO*45*100.00",
    "NM1*QC*1*FLINTSTONE*FRED****MI*MEMBER001",
    "MIA*0****MA01***************MA02*MA03",
    "MOA***MA18*N1*",
    "REF*1L*GROUP9",
    "DTM*232*20261001",
    "AMT*AU*1400.00",
    "SVC*HC:99214:25*1500.00*1100.00*0450*2",
    "DTM*472*20261001",
    "CAS*PR*1*150.00**2*50.00*1",
    "CAS*CO*45*200.00",
    "REF*6R*LINE1",
    "AMT*B6*1200.00",
    "LQ*HE*N130",
    "LQ*RX*IGNORED",
    "CLP*PCN002*2*300.00*144.00**12*ICN0002*11*1",
    "NM1*QC*1*RUBBLE*BARNEY****MI*MEMBER002",
    "SVC*HC:97110*300.00*144.00**1",
    "DTM*472*20261002",
    "CAS*OA*23*156.00",
    "PLB*1234567893*20261231*WO:ICN0000*60.00*L6*-10.00",
]


def st_se(body: list[str], control: str = "0001") -> list[str]:
    return [f"ST*835*{control}", *body, f"SE*{len(body) + 2}*{control}"]


def interchange(sets: list[list[str]], isa: str = ISA_5010, gs08: str = "005010X221A1") -> list[str]:
    segments = [isa, f"GS*HP*PAYERID*PAYEEID*20261101*1200*1*X*{gs08}"]
    for number, body in enumerate(sets, 1):
        segments += st_se(body, f"{number:04d}")
    return [*segments, f"GE*{len(sets)}*1", "IEA*1*000000001"]


def x12(segments: list[str], element: str = "*", component: str = ":", terminator: str = "~\n") -> bytes:
    """Join segments written with '*' and ':' using other delimiters (the ISA16 value too)."""
    table = str.maketrans({"*": element, ":": component})
    return "".join(segment.translate(table) + terminator for segment in segments).encode("latin-1")


def read_one(data: bytes, **kwargs: object) -> Remittance:
    result = read_835(data, **kwargs)  # type: ignore[arg-type]
    assert not result.dead_letters, [d.message for d in result.dead_letters]
    assert len(result.remittances) == 1
    return result.remittances[0]


def dead_letter(data: bytes) -> DeadLetter:
    result = read_835(data, file="test.835", source_id="src-1")
    assert not result.remittances
    assert len(result.dead_letters) == 1, [d.message for d in result.dead_letters]
    return result.dead_letters[0]


def with_segment(body: list[str], old_prefix: str, new: str | None) -> list[str]:
    """``body`` with the first segment starting with ``old_prefix`` replaced (or removed when None)."""
    index = next(i for i, segment in enumerate(body) if segment.startswith(old_prefix))
    return [*body[:index], *([new] if new is not None else []), *body[index + 1 :]]


STANDARD = x12(interchange([BODY_5010]))


def corpus_file(name: str) -> bytes:
    """A file of the public corpus (corpus/era); a missing one fails the test that names it."""
    return (CORPUS_DIR / name).read_bytes()


# --------------------------------------------------------------------------- delimiters


def test_isa_delimiters_standard_5010() -> None:
    assert isa_delimiters(ISA_5010 + "~", 0) == Delimiters("*", ":", "~", "^")


def test_isa_delimiters_4010_has_no_repetition_separator() -> None:
    assert isa_delimiters(ISA_4010 + "~", 0) == Delimiters("*", ":", "~", None)


def test_isa_delimiters_pipes_and_newline_terminator() -> None:
    text = ISA_4010.replace("*", "|").replace(":", "^") + "\n~GS|HP"
    assert isa_delimiters(text, 0) == Delimiters("|", "^", "\n", None)


@pytest.mark.parametrize("component", ["|", ">", "^"])
def test_isa_component_separator_is_the_value_of_isa16(component: str) -> None:
    text = ISA_5010[:-1] + component + "~GS*HP"
    assert isa_delimiters(text, 0).component == component  # type: ignore[union-attr]


def test_unpadded_isa_is_not_read_at_fixed_offsets() -> None:
    text = "ISA*00* *00* *ZZ*NVMED *ZZ*99999999*180613*1230*^*00501*100000300*0*P*:~GS*HP"
    assert len(text.split("~")[0]) < 105
    assert isa_delimiters(text, 0) == Delimiters("*", ":", "~", "^")


@pytest.mark.parametrize(
    "text",
    ["ISA*00*00", "ISA", "ISA*00*          *00*          *ZZ*A*ZZ*B*261101*1200*^*00501*1*0*P*", "ISAX*"],
)
def test_broken_isa_is_an_error_message(text: str) -> None:
    assert isinstance(isa_delimiters(text, 0), str)


def test_st_delimiters_without_envelope() -> None:
    assert st_delimiters("ST*835*1234~BPR*I", 0) == Delimiters("*", ":", "~")
    assert st_delimiters("ST|835|1234\nBPR|I", 0) == Delimiters("|", ":", "\n")
    assert st_delimiters("ST*835*1~BPR*I*0*C~SVC*HC>99213*1*1", 0).component == ">"


def test_bom_crlf_and_indentation_read_like_the_plain_file() -> None:
    lines = interchange([BODY_5010])
    indented = "".join(f"{'  ' * (i % 4)}{segment}~\r\n" for i, segment in enumerate(lines))
    data = b"\xef\xbb\xbf" + indented.encode("latin-1")
    plain = read_one(STANDARD)
    fancy = read_one(data)
    assert fancy.body_hash == plain.body_hash
    assert fancy.remittance_id == plain.remittance_id
    assert fancy.claims == plain.claims
    # offsets still count the BOM and the indentation: they point at the ST itself
    assert data[fancy.source.byte_offset :].startswith(b"ST*835*0001")  # type: ignore[misc]
    assert fancy.source.segment_number == 3


def test_newline_terminator_with_stray_tilde_before_each_segment() -> None:
    """The TigerShark layout: ISA16 is followed by a newline and each later segment starts with '~'."""
    lines = interchange([BODY_5010])
    text = lines[0].replace("*", "|").replace(":", "^") + "\n"
    text += "".join("~" + segment.replace("*", "|").replace(":", "^") + "\n" for segment in lines[1:])
    remittance = read_one(text.encode())
    assert remittance.claims[0].service_lines[0].procedure == "HC:99214:25"
    assert remittance.provider_adjustments[0].reference == "ICN0000"
    assert remittance.body_hash == read_one(STANDARD).body_hash


def test_file_without_envelope_starts_at_st() -> None:
    result = read_835(x12(st_se(BODY_5010)))
    assert len(result.remittances) == 1 and not result.dead_letters
    assert result.remittances[0].x12_version is None
    assert any("no ISA/GS envelope" in notice for notice in result.notices)
    assert result.remittances[0].body_hash == read_one(STANDARD).body_hash


# --------------------------------------------------------------------------- a 5010 remittance


def test_5010_remittance_field_by_field() -> None:
    result = read_835(STANDARD, file="era.835", source_id="src-7")
    assert result.dead_letters == [] and result.notices == []
    (r,) = result.remittances
    assert r.x12_version == "5010"
    assert r.sequence == 0
    assert r.source.file == "era.835" and r.source.source_id == "src-7"
    assert r.source.segment_tag == "ST" and r.source.segment_number == 3
    assert STANDARD[r.source.byte_offset :].startswith(b"ST*835*0001")  # type: ignore[misc]
    assert r.payment.handling_code == "I"
    assert r.payment.amount == Decimal("1094.00")
    assert r.payment.credit_debit == "C"
    assert r.payment.method == "ACH"
    assert r.payment.effective_date == dt.date(2026, 11, 1)
    assert r.trace_number == "EFT0001"
    assert r.production_date == dt.date(2026, 10, 30)
    assert r.payer.id == "1512345678" and r.payer.name == "ACME HEALTH PLAN"
    assert (r.payee.id, r.payee.id_qualifier, r.payee.name, r.payee.tin) == (
        "1234567893",
        "XX",
        "GOOD CLINIC",
        "123456789",
    )
    assert r.flags == []

    first, second = r.claims
    assert first.claim_id == "PCN001" and first.status_code == "1"
    assert (first.total_charge, first.payment, first.patient_responsibility) == (
        Decimal("1500.00"),
        Decimal("1000.00"),
        Decimal("200.00"),
    )
    assert first.filing_indicator == "12"
    assert first.payer_claim_control_number == "ICN0001"
    assert first.facility_code == "11" and first.frequency_code == "1"
    assert first.adjustments == [Adjustment(group="CO", reason="45", amount=Decimal("100.00"))]
    assert [(x.qualifier, x.value) for x in first.references] == [("1L", "GROUP9")]
    assert [(x.qualifier, x.date) for x in first.dates] == [("232", dt.date(2026, 10, 1))]
    assert [(x.qualifier, x.amount) for x in first.amounts] == [("AU", Decimal("1400.00"))]
    assert first.remark_codes == ["MA01", "MA02", "MA03", "MA18", "N1"]  # MIA05, MIA23-24, MOA03-04
    assert first.patient is None
    assert first.flags == []  # 1500 - 1000 = 100 (claim CAS) + 400 (line CAS); line 1500 - 1100 = 400

    (line,) = first.service_lines
    assert line.procedure == "HC:99214:25"
    assert (line.charge, line.payment, line.revenue_code, line.units) == (
        Decimal("1500.00"),
        Decimal("1100.00"),
        "0450",
        Decimal("2"),
    )
    assert [(a.group, a.reason, a.amount, a.quantity) for a in line.adjustments] == [
        ("PR", "1", Decimal("150.00"), None),
        ("PR", "2", Decimal("50.00"), Decimal("1")),
        ("CO", "45", Decimal("200.00"), None),
    ]
    assert [(x.qualifier, x.value) for x in line.references] == [("6R", "LINE1")]
    assert [(x.qualifier, x.date) for x in line.dates] == [("472", dt.date(2026, 10, 1))]
    assert [(x.qualifier, x.amount) for x in line.amounts] == [("B6", Decimal("1200.00"))]
    assert line.remark_codes == ["N130"]  # LQ*HE only

    assert second.claim_id == "PCN002" and second.patient_responsibility is None
    assert second.service_lines[0].adjustments[0].amount == Decimal("156.00")

    wo, l6 = r.provider_adjustments
    assert (wo.provider_id, wo.fiscal_period_date, wo.reason_code, wo.reference, wo.amount) == (
        "1234567893",
        dt.date(2026, 12, 31),
        "WO",
        "ICN0000",
        Decimal("60.00"),
    )
    assert (l6.reason_code, l6.reference, l6.amount) == ("L6", None, Decimal("-10.00"))


def test_remittance_round_trips_through_json_validation() -> None:
    """The reader builds models without validating them: prove the types are what pydantic wants."""
    secondary = corpus_file("lfh_835_5010_secondary_payment.835")
    inputs = (STANDARD, x12(interchange([BODY_5010, BODY_4010_REVERSAL])), secondary)
    remittances = [r for data in inputs for r in read_835(data, include_patient_data=True).remittances]
    assert len(remittances) == 4 and all(r.claims for r in remittances)
    for remittance in remittances:
        again = Remittance.model_validate_json(remittance.model_dump_json())
        assert again == remittance
        assert again.model_dump() == remittance.model_dump()
        assert Remittance.model_validate(remittance.model_dump()) == remittance
        # every field present, as if pydantic had built it
        assert remittance.model_fields_set == set(Remittance.model_fields)


def test_dead_letter_round_trips_through_json_validation() -> None:
    letter = dead_letter(x12(interchange([with_segment(BODY_5010, "BPR", "BPR*I*1.00*C*ACH")])))
    assert DeadLetter.model_validate_json(letter.model_dump_json()) == letter


def test_fast_model_building_matches_pydantic() -> None:
    assert builders.fast_path_works()
    values = {"qualifier": "472", "date": dt.date(2026, 1, 2)}
    built = builders.build_date_ref(dict(values))
    assert built == type(built).model_validate(values)
    built.qualifier = "150"  # assignment still works and does not leak into other instances
    assert builders.build_date_ref(dict(values)).qualifier == "472"


# --------------------------------------------------------------------------- 4010 reversal, PLB, structure

# 4010 reversal of a paid claim and its correction (CAS group CR on the reversal), balanced:
# BPR02 100.00 = -200.00 + 300.00
BODY_4010_REVERSAL = [
    "BPR*I*100.00*C*CHK************20090220",
    "TRN*1*0004926*1382999999",
    "DTM*405*20090209",
    "N1*PR*PAYER ONE",
    "N1*PE*PROVIDER ONE*FI*382999999",
    "LX*1",
    "CLP*123839*22*-310*-200*0*HM*6363451",
    "SVC*HC:T1017*-310*-200**6",
    "DTM*150*20080111",
    "CAS*CR*45*-110",
    "CLP*123839*1*400*300*0*HM*6363452",
    "REF*F8*6363451",
    "SVC*HC:T1017*400*300**6",
    "CAS*CO*45*100",
]


def test_4010_reversal_with_cas_cr() -> None:
    r = read_one(x12(interchange([BODY_4010_REVERSAL], isa=ISA_4010, gs08="004010X091A1")))
    assert r.x12_version == "4010"
    reversal, correction = r.claims
    assert reversal.is_reversal and not correction.is_reversal
    assert (reversal.total_charge, reversal.payment) == (Decimal("-310"), Decimal("-200"))
    (adjustment,) = reversal.service_lines[0].adjustments
    assert adjustment == Adjustment(group="CR", reason="45", amount=Decimal("-110"))
    assert reversal.flags == [] and correction.flags == []
    assert correction.reference("F8") == "6363451"
    assert r.payer.id == "1382999999" and r.payee.id == "382999999" and r.payee.id_qualifier == "FI"


def test_two_plb_segments_in_one_transaction_set() -> None:
    body = with_segment(BODY_5010, "BPR", "BPR*I*1089.00*C*ACH************20261101")
    body = [*body, "PLB*1234567893*20261231*FB:FWD1*-25.00*72:REF9*-10.00*J1*0.00*WU:R77*40.00"]
    r = read_one(x12(interchange([body])))
    codes = [(p.reason_code, p.reference, p.amount) for p in r.provider_adjustments]
    assert codes == [
        ("WO", "ICN0000", Decimal("60.00")),
        ("L6", None, Decimal("-10.00")),
        ("FB", "FWD1", Decimal("-25.00")),
        ("72", "REF9", Decimal("-10.00")),
        ("J1", None, Decimal("0.00")),
        ("WU", "R77", Decimal("40.00")),
    ]


def test_plb_reference_is_the_second_component_only() -> None:
    body = with_segment(BODY_5010, "PLB", "PLB*1234567893*20261231*WO:ICN0000:HIC77*60.00*L6:*-10.00")
    wo, l6 = read_one(x12(interchange([body]))).provider_adjustments
    assert (wo.reason_code, wo.reference) == ("WO", "ICN0000")
    assert (l6.reason_code, l6.reference) == ("L6", None)


def test_bad_plb_date_is_kept_as_none_and_flagged() -> None:
    body = with_segment(BODY_5010, "PLB", "PLB*1234567893*20261399*WO:ICN0000*60.00*L6*-10.00")
    remittance = read_one(x12(interchange([body])))
    assert remittance.flags == ["bad_date"]
    assert [p.fiscal_period_date for p in remittance.provider_adjustments] == [None, None]


def test_multiple_interchanges_groups_and_sets_with_their_own_delimiters() -> None:
    first = x12(interchange([BODY_5010, BODY_5010]))
    second_body = with_segment(BODY_5010, "TRN", "TRN*1*EFT0002*1512345678")
    second = x12(interchange([second_body]), element="|", component=">", terminator="\n")
    third = x12(interchange([BODY_4010_REVERSAL], isa=ISA_4010, gs08="004010X091A1"), terminator="~\r\n")
    result = read_835(first + second + third)
    assert not result.dead_letters and result.notices == []
    assert [r.trace_number for r in result.remittances] == ["EFT0001", "EFT0001", "EFT0002", "0004926"]
    assert [r.sequence for r in result.remittances] == [0, 1, 2, 3]
    assert [r.x12_version for r in result.remittances] == ["5010", "5010", "5010", "4010"]
    assert result.remittances[2].claims[0].service_lines[0].procedure == "HC:99214:25"
    # segment numbers run through the whole file
    assert [r.source.segment_number for r in result.remittances] == [3, 38, 77, 116]
    for remittance in result.remittances:
        offset = remittance.source.byte_offset
        assert (first + second + third)[offset : offset + 3] in (b"ST*", b"ST|")  # type: ignore[index,operator]


def test_non_835_sets_are_skipped_with_a_notice() -> None:
    segments = interchange([BODY_5010])
    segments[2:2] = ["ST*837*9001", "BHT*0019*00*1*20261101*1200*CH", "SE*3*9001"]
    result = read_835(x12(segments))
    assert len(result.remittances) == 1 and not result.dead_letters
    assert result.notices == ["skipped transaction set 837 at segment 3"]


def test_a_file_of_only_non_835_sets_is_a_dead_letter_not_a_silent_drop() -> None:
    segments = [ISA_5010, "GS*HC*A*B*20261101*1200*1*X*005010X222A1", "ST*837*1", "BHT*0019", "SE*3*1"]
    result = read_835(x12([*segments, "GE*1*1", "IEA*1*000000001"]))
    assert result.remittances == []
    assert result.notices == ["skipped transaction set 837 at segment 3"]
    (letter,) = result.dead_letters
    assert letter.error_code == "not_835" and "837 at segment 3" in letter.message


def test_non_835_sets_beside_an_835_are_skipped_with_a_notice() -> None:
    segments = interchange([BODY_5010])
    segments[-2:-2] = ["ST*837*0002", "BHT*0019", "SE*3*0002"]  # before GE
    result = read_835(x12(segments))
    assert len(result.remittances) == 1 and result.dead_letters == []
    assert any("skipped transaction set 837" in n for n in result.notices)


def test_one_bad_set_does_not_sink_its_siblings() -> None:
    bad = with_segment(BODY_5010, "CLP*PCN002", "CLP*PCN002*2")
    result = read_835(x12(interchange([BODY_5010, bad, BODY_5010])), file="f.835")
    assert len(result.remittances) == 2
    assert [r.source.segment_number for r in result.remittances] == [3, 73]
    (letter,) = result.dead_letters
    assert letter.error_code == "malformed_segment"
    assert letter.source.segment_tag == "CLP" and letter.source.segment_number == 38 + 1 + 27
    assert letter.raw is not None
    assert letter.raw.startswith("ST*835*0002") and letter.raw.endswith("SE*35*0002~")
    assert "has 2 elements" in letter.message and "CLP01 to CLP04" in letter.message


# --------------------------------------------------------------------------- broken inputs


def test_truncated_file_is_a_truncated_dead_letter_with_envelope_notices() -> None:
    data = STANDARD[: STANDARD.index(b"CLP*PCN002") + 5]
    result = read_835(data)
    assert result.remittances == []
    (letter,) = result.dead_letters
    assert letter.error_code == "truncated"
    assert (letter.source.segment_tag, letter.source.segment_number) == ("ST", 3)
    assert letter.raw is not None and letter.raw.startswith("ST*835*0001") and letter.raw.endswith("CLP*P")
    assert "functional group at segment 2 has no GE" in result.notices
    assert "interchange at segment 1 has no IEA" in result.notices


def test_set_without_se_followed_by_another_set() -> None:
    segments = interchange([BODY_5010, BODY_5010])
    del segments[2 + len(BODY_5010) + 1]  # the first SE
    result = read_835(x12(segments))
    assert len(result.remittances) == 1
    assert [d.error_code for d in result.dead_letters] == ["truncated"]


def test_empty_bytes_is_not_x12() -> None:
    for data in (b"", b"   \n\r\n"):
        (letter,) = read_835(data, file="empty.835").dead_letters
        assert letter.error_code == "not_x12" and letter.message == "The file is empty."
        assert letter.source.byte_offset == 0 and letter.source.file == "empty.835"


def test_garbage_bytes_is_not_x12() -> None:
    data = bytes(range(256)) * 3
    result = read_835(data)
    assert result.remittances == [] and result.notices == []
    (letter,) = result.dead_letters
    assert letter.error_code == "not_x12"
    assert letter.raw == data.decode("latin-1")


def test_invalid_utf8_is_read_as_latin1() -> None:
    data = STANDARD.replace(b"GOOD CLINIC", b"CL\xc3\x28NIC \xff\xfe")
    remittance = read_one(data)
    assert remittance.payee.name == "CL\xc3(NIC \xff\xfe"
    assert Remittance.model_validate_json(remittance.model_dump_json()) == remittance


def test_isa_only_file_has_a_dead_letter() -> None:
    result = read_835(x12([ISA_5010, "GS*HP*A*B*20261101*1200*1*X*005010X221A1", "GE*0*1", "IEA*1*1"]))
    assert [d.error_code for d in result.dead_letters] == ["bad_envelope"]


def test_broken_isa_is_a_bad_envelope_and_later_interchanges_still_read() -> None:
    data = b"ISA*00*00~GS*HP~ST*835*1~SE*2*1~\n" + STANDARD
    result = read_835(data)
    assert [d.error_code for d in result.dead_letters] == ["bad_envelope"]
    assert result.dead_letters[0].source.byte_offset == 0
    assert len(result.remittances) == 1


@pytest.mark.parametrize(
    ("element", "component", "terminator", "named"),
    [
        ("A", ":", "~\n", "element separator after ISA is 'A'"),
        ("7", ":", "~\n", "element separator after ISA is '7'"),
        ("*", "X", "~\n", "ISA16 (the component separator) is 'X'"),
        ("*", ":", "Q", "segment terminator after ISA16 is 'Q'"),
    ],
)
def test_a_letter_or_digit_as_delimiter_says_the_delimiters_are_wrong(
    element: str, component: str, terminator: str, named: str
) -> None:
    """Not "no ISA or ST": the file is X12 whose ISA declares delimiters that cannot be told from the data."""
    data = b"\n" + x12(interchange([BODY_5010]), element, component, terminator)
    letter = dead_letter(data)
    assert letter.error_code == "bad_envelope"
    assert named in letter.message and "delimiters are wrong" in letter.message
    assert (letter.source.byte_offset, letter.source.segment_number, letter.source.segment_tag) == (1, 1, "ISA")


def test_leading_junk_before_the_isa_is_skipped_with_a_notice() -> None:
    result = read_835(b"From: clearinghouse\n\n" + STANDARD)
    assert len(result.remittances) == 1
    assert result.notices == ["skipped 21 bytes before the first segment at byte 21"]


# --------------------------------------------------------------------------- balancing and bad values


def test_unbalanced_remittance_states_both_figures() -> None:
    body = with_segment(BODY_5010, "BPR", "BPR*I*1234.50*C*ACH************20261101")
    letter = dead_letter(x12(interchange([body])))
    assert letter.error_code == "unbalanced_remittance"
    assert letter.source.segment_tag == "BPR" and letter.source.segment_number == 4
    assert "BPR02 (1,234.50)" in letter.message
    assert "claim payments (1,144.00)" in letter.message
    assert "provider adjustments (50.00)" in letter.message


def test_balancing_is_to_the_cent_and_ignores_trailing_zeros() -> None:
    body = with_segment(BODY_5010, "BPR", "BPR*I*1094*C*ACH************20261101")
    assert read_one(x12(interchange([body]))).payment.amount == Decimal("1094")
    body = with_segment(BODY_5010, "BPR", "BPR*I*1094.01*C*ACH************20261101")
    assert dead_letter(x12(interchange([body]))).error_code == "unbalanced_remittance"


def test_an_accepted_unbalanced_remittance_is_applied_flagged_and_only_that_one() -> None:
    """Rules §7: `dead-letters replay --accept ID` puts the dead letter's one set back, naming it."""
    body = with_segment(BODY_5010, "BPR", "BPR*I*1104.00*C*ACH************20261101")  # 10.00 over
    letter = dead_letter(x12(interchange([body])))
    accepted = read_one(letter.raw.encode("latin-1"), accepted_dead_letter=letter.dead_letter_id)
    assert accepted.flags == ["accepted_unbalanced"] and accepted.payment.amount == Decimal("1104.00")
    # the header names a dead letter, so an input of more sets than that one is not accepted
    two = read_835(x12(interchange([body, BODY_5010])), accepted_dead_letter=letter.dead_letter_id)
    assert [d.error_code for d in two.dead_letters] == ["unbalanced_remittance"] and len(two.remittances) == 1
    # nothing is accepted without the command, and acceptance never lets another problem through
    assert dead_letter(letter.raw.encode("latin-1")).error_code == "unbalanced_remittance"
    negative = with_segment(body, "BPR", "BPR*I*-1.00*C*ACH************20261101")
    rejected = read_835(x12(interchange([negative])), accepted_dead_letter=letter.dead_letter_id)
    assert [d.error_code for d in rejected.dead_letters] == ["negative_payment"]


def test_money_not_moved_is_flagged_and_applied() -> None:
    """Rules §7: BPR01 H or P says no money moved; a BPR02 that is not 0 is applied and flagged."""
    for handling in ("H", "P"):
        body = with_segment(BODY_5010, "BPR", f"BPR*{handling}*1094.00*C*NON************20261101")
        assert read_one(x12(interchange([body]))).flags == ["payment_not_moved"]
    assert read_one(STANDARD).flags == []


def test_generation_time_comes_from_gs04_gs05_and_isa09_isa10() -> None:
    """Rules §2: which version of a re-issued payment is later."""
    remittance = read_one(x12(interchange([BODY_5010])))
    assert remittance.generated_at == dt.datetime(2026, 11, 1, 12, 0)
    assert remittance.interchange_generated_at == dt.datetime(2026, 11, 1, 12, 0)
    segments = interchange([BODY_5010])
    segments[1] = "GS*HP*PAYERID*PAYEEID*20261102*09304512*1*X*005010X221A1"  # HHMMSSDD
    assert read_one(x12(segments)).generated_at == dt.datetime(2026, 11, 2, 9, 30, 45)
    segments[1] = "GS*HP*PAYERID*PAYEEID*20261399*0930*1*X*005010X221A1"  # not a date: no reason to reject
    assert read_one(x12(segments)).generated_at is None
    assert read_one(x12(st_se(BODY_5010))).generated_at is None  # no envelope


def test_negative_payment() -> None:
    body = [
        "BPR*H*-50.00*C*NON************20261101",
        "TRN*1*T1*1512345678",
        "N1*PR*PAYER",
        "N1*PE*CLINIC*XX*1234567893",
        "PLB*1234567893*20261231*FB:X*50.00",
    ]
    letter = dead_letter(x12(interchange([body])))
    assert letter.error_code == "negative_payment" and "(-50.00)" in letter.message


def test_zero_payment_needs_handling_code_h_or_p() -> None:
    body = ["BPR*I*0*C*NON", "TRN*1*T1*1512345678", "N1*PR*PAYER", "N1*PE*CLINIC*XX*1"]
    assert read_one(x12(interchange([body]))).flags == ["zero_payment_not_h_or_p"]
    body[0] = "BPR*H*0*C*NON"
    assert read_one(x12(interchange([body]))).flags == []


def test_bad_bpr16_is_a_bad_date_dead_letter() -> None:
    body = with_segment(BODY_5010, "BPR", "BPR*I*1094.00*C*ACH*CCP*01*1*DA*2*3**01*4*DA*5*20990080")
    letter = dead_letter(x12(interchange([body])))
    assert letter.error_code == "bad_date" and letter.source.segment_tag == "BPR"
    assert "BPR16" in letter.message


def test_bad_production_date_is_a_bad_date_dead_letter() -> None:
    letter = dead_letter(x12(interchange([with_segment(BODY_5010, "DTM*405", "DTM*405*20261340")])))
    assert letter.error_code == "bad_date" and letter.source.segment_tag == "DTM"


def test_bad_claim_and_line_dates_are_kept_as_none_and_flagged() -> None:
    body = with_segment(BODY_5010, "DTM*232", "DTM*232*2026XX01")
    body = with_segment(body, "DTM*472*20261002", "DTM*472*20260230")
    first, second = read_one(x12(interchange([body]))).claims
    assert first.dates[0].date is None and first.flags == ["bad_date"]
    assert second.service_lines[0].dates[0].date is None and second.flags == ["bad_date"]


def test_non_numeric_amount_is_a_bad_amount_dead_letter() -> None:
    for bad in ("12.3.4", "1e5", "NaN", "12,50", "--1", "-", ".", "1_000", "+5", " 12"):
        letter = dead_letter(x12(interchange([with_segment(BODY_5010, "CAS*CO*45", f"CAS*CO*45*{bad}")])))
        assert letter.error_code == "bad_amount", bad
        assert letter.source.segment_tag == "CAS" and "CAS03" in letter.message


def test_claim_and_line_imbalances_are_flags_not_rejections() -> None:
    body = with_segment(BODY_5010, "CAS*CO*45*200.00", "CAS*CO*45*190.00")
    first, second = read_one(x12(interchange([body]))).claims
    assert first.flags == ["line_unbalanced", "claim_unbalanced"]
    assert second.flags == []


def test_missing_segments() -> None:
    for prefix in ("BPR", "TRN", "N1*PE"):
        letter = dead_letter(x12(interchange([with_segment(BODY_5010, prefix, None)])))
        assert letter.error_code == "missing_segment", prefix
        assert letter.source.segment_tag == "ST", prefix


def test_payee_id_falls_back_to_ref_tj_else_dead_letter() -> None:
    body = with_segment(BODY_5010, "N1*PE", "N1*PE*GOOD CLINIC")
    payee = read_one(x12(interchange([body]))).payee
    assert (payee.id, payee.id_qualifier, payee.tin) == ("123456789", None, "123456789")
    letter = dead_letter(x12(interchange([with_segment(body, "REF*TJ", None)])))
    assert letter.error_code == "missing_payee_id" and letter.source.segment_tag == "N1"


def test_payer_id_fallbacks() -> None:
    body = with_segment(BODY_5010, "TRN", "TRN*1*EFT0001")
    assert read_one(x12(interchange([body]))).payer.id == "87726"  # N1*PR N104
    body = with_segment(body, "N1*PR", "N1*PR*ACME HEALTH PLAN")
    assert read_one(x12(interchange([body]))).payer.id == "87726"  # REF*2U
    body = with_segment(body, "REF*2U", None)
    assert read_one(x12(interchange([body]))).payer.id == "ACME HEALTH PLAN"


@pytest.mark.parametrize(
    ("segment", "tag"),
    [
        ("SVC*HC:99214:25*1500.00", "SVC"),
        ("CAS*CO*45", "CAS"),
        ("PLB*1234567893*20261231*WO:ICN0000", "PLB"),
        ("BPR*I", "BPR"),
        ("TRN*1", "TRN"),
        ("REF*6R", "REF"),
    ],
)
def test_too_few_elements_is_a_malformed_segment(segment: str, tag: str) -> None:
    prefix = segment.split("*")[0] + "*" + segment.split("*")[1]
    letter = dead_letter(x12(interchange([with_segment(BODY_5010, prefix, segment)])))
    assert letter.error_code == "malformed_segment"
    assert letter.source.segment_tag == tag
    assert STANDARD.decode()[: letter.source.byte_offset].count("~") + 1 == letter.source.segment_number


def test_empty_claim_amount_counts_as_zero_and_is_flagged() -> None:
    body = with_segment(BODY_5010, "CLP*PCN002", "CLP*PCN002*2*300.00***12*ICN0002")
    body = with_segment(body, "BPR", "BPR*I*950.00*C*ACH************20261101")
    second = read_one(x12(interchange([body]))).claims[1]
    assert second.payment == Decimal(0) and "missing_amount" in second.flags


def test_segment_count_mismatch_is_a_flag() -> None:
    segments = interchange([BODY_5010])
    se = next(i for i, s in enumerate(segments) if s.startswith("SE*"))
    segments[se] = "SE*99*0001"
    assert read_one(x12(segments)).flags == ["segment_count_mismatch"]


def test_x12_version_from_gs08_or_isa12_else_raw() -> None:
    masked_isa = ISA_5010.replace("00501", "99999")
    masked = read_one(x12(interchange([BODY_5010], isa=masked_isa, gs08="999999X999X9")))
    assert masked.x12_version == "999999X999X9"
    by_isa = read_one(x12(interchange([BODY_5010], isa=ISA_4010, gs08="5010")))
    assert by_isa.x12_version == "4010"


# --------------------------------------------------------------------------- patient data


def test_patient_data_is_off_by_default() -> None:
    r = read_one(STANDARD)
    assert all(claim.patient is None for claim in r.claims)
    assert "FLINTSTONE" not in r.model_dump_json() and "MEMBER001" not in r.model_dump_json()


def test_patient_data_with_the_flag() -> None:
    first, second = read_one(STANDARD, include_patient_data=True).claims
    assert first.patient is not None and second.patient is not None
    assert (first.patient.last_name, first.patient.first_name, first.patient.member_id) == (
        "FLINTSTONE",
        "FRED",
        "MEMBER001",
    )
    assert second.patient.last_name == "RUBBLE"
    assert read_one(STANDARD, include_patient_data=True).remittance_id == read_one(STANDARD).remittance_id


def test_messages_never_hold_patient_data() -> None:
    full_patient = with_segment(BODY_5010, "NM1*QC*1*FLINTSTONE", "NM1*QC*1*FLINTSTONE*FRED****MI*MEMBER001*")
    bad_bodies = [
        with_segment(full_patient, "BPR", "BPR*I*1.00*C"),  # unbalanced
        with_segment(BODY_5010, "CLP*PCN001", "CLP*FLINTSTONE*1"),  # too short
        with_segment(BODY_5010, "AMT*AU", "AMT*AU*FLINTSTONE"),  # not a number
        with_segment(BODY_5010, "BPR", "BPR*I*1.00*C"),
    ]
    for body in bad_bodies:
        (letter,) = read_835(x12(interchange([body]))).dead_letters  # each is rejected: the check below can fail
        assert "FLINTSTONE" in (letter.raw or ""), "the rejected set holds the patient, for fix and replay"
        for secret in ("FLINTSTONE", "FRED", "MEMBER001", "RUBBLE", "BARNEY", "MEMBER002"):
            assert secret not in letter.message


# --------------------------------------------------------------------------- identity


def test_body_hash_is_the_same_in_a_new_envelope_and_with_other_delimiters() -> None:
    original = read_one(STANDARD)
    resent = x12(interchange([BODY_5010], isa=ISA_5010.replace("000000001", "000000777")))
    other = x12(interchange([BODY_5010]), element="|", component=">", terminator="\r\n")
    for data in (resent, other, x12(st_se(BODY_5010, "9999"))):
        again = read_one(data)
        assert again.body_hash == original.body_hash
        assert again.remittance_id == original.remittance_id


def test_body_hash_is_sha256_of_the_normalized_body() -> None:
    expected = hashlib.sha256("~".join(BODY_5010).encode()).hexdigest()
    assert read_one(STANDARD).body_hash == expected


def test_remittance_id_differs_when_the_body_differs() -> None:
    original = read_one(STANDARD)
    changed = read_one(x12(interchange([with_segment(BODY_5010, "REF*6R", "REF*6R*LINE2")])))
    assert changed.trace_number == original.trace_number and changed.payment == original.payment
    assert changed.body_hash != original.body_hash
    assert changed.remittance_id != original.remittance_id
    for remittance in (original, changed):  # ids travel as Kafka keys and in file names: always this shape
        assert re.fullmatch(r"[0-9a-f]{32}", remittance.remittance_id), remittance.remittance_id
        assert re.fullmatch(r"[0-9a-f]{64}", remittance.body_hash), remittance.body_hash


def test_remittance_id_formula() -> None:
    r = read_one(STANDARD)
    identity = "|".join(["1512345678", "EFT0001", "1234567893", "1094", "2026-11-01", r.body_hash])
    assert r.remittance_id == hashlib.sha256(identity.encode()).hexdigest()[:32]
    # the helper rebuilds it from the event alone (e.g. a remittance that arrived as JSON)
    e = Remittance.model_validate_json(r.model_dump_json())
    assert remittance_id(e.payer.id, e.trace_number, e.payee.id, e.payment, e.body_hash) == r.remittance_id


def test_dead_letter_id_formula() -> None:
    letter = dead_letter(x12(interchange([with_segment(BODY_5010, "BPR", "BPR*I*1.00*C")])))
    key = f"src-1|test.835|{letter.source.byte_offset}|unbalanced_remittance"
    assert letter.dead_letter_id == hashlib.sha256(key.encode()).hexdigest()[:32]


# --------------------------------------------------------------------------- robustness


def test_gc_state_and_decimal_context_are_respected() -> None:
    assert gc.isenabled()
    read_835(STANDARD)
    assert gc.isenabled()
    gc.disable()
    try:
        read_835(STANDARD)
        assert not gc.isenabled()
    finally:
        gc.enable()
    with localcontext() as context:
        context.prec = 3  # the caller's context must not round our sums
        assert read_one(STANDARD).payment.amount == Decimal("1094.00")


def test_a_reader_bug_becomes_a_dead_letter_and_memory_error_escapes(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: object, row: list[str], k: int) -> None:
        raise KeyError("bug")

    monkeypatch.setitem(reader_module._HANDLERS_WITHOUT_PATIENTS, "SVC", broken)
    result = read_835(STANDARD)
    assert [d.error_code for d in result.dead_letters] == ["internal_error"]
    assert result.dead_letters[0].raw is not None and "SVC*" in result.dead_letters[0].raw

    def exhausted(data: bytes) -> None:
        raise MemoryError

    monkeypatch.setattr(reader_module, "tokenize", exhausted)
    with pytest.raises(MemoryError):
        read_835(STANDARD)


def check_contract(result: ReadResult) -> None:
    assert isinstance(result, ReadResult)
    assert result.remittances or result.dead_letters or result.notices
    for letter in result.dead_letters:
        assert letter.error_code != "internal_error", letter.message
        assert letter.source.byte_offset is not None and letter.message
    for remittance in result.remittances:
        assert remittance.payment.amount >= 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_any_bytes_give_a_result(data: bytes) -> None:
    check_contract(read_835(data))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([*interchange([BODY_5010]), *BODY_4010_REVERSAL, "SE*3*1", "ST*835", "x"])))
def test_any_segment_soup_gives_a_result(segments: list[str]) -> None:
    check_contract(read_835(x12(segments)))


MUTATED = [
    corpus_file("pyx12_835_4010_reversals_plb_cs.txt"),
    corpus_file("tigershark_835_4010_pipe_delims_plb_wo_missing_iea.txt"),
    corpus_file("oopfactory_835_4010_bom_indented_reversals_denials_plb_cv.txt"),
    STANDARD,
]
FLIP = st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255))  # (position, new byte)
FLIPS = st.lists(FLIP, min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(MUTATED), st.data())
def test_truncation_at_any_point(original: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(original)))
    check_contract(read_835(original[:cut]))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(MUTATED), FLIPS)
def test_byte_flips(original: bytes, flips: list[tuple[int, int]]) -> None:
    mutated = bytearray(original)
    for position, value in flips:
        mutated[position % len(mutated)] = value
    check_contract(read_835(bytes(mutated)))


# --------------------------------------------------------------------------- the benchmark generator


def test_synthetic_835_balances_and_reads_without_dead_letters() -> None:
    data = synthetic_835(2_000, seed=7)
    assert data == synthetic_835(2_000, seed=7)  # deterministic
    result = read_835(data)
    assert result.dead_letters == [] and result.notices == []
    assert len(result.remittances) == 10
    claims = [claim for remittance in result.remittances for claim in remittance.claims]
    assert len(claims) == 2_000
    assert all(claim.flags == [] for claim in claims)
    assert all(remittance.flags == [] for remittance in result.remittances)
    statuses = Counter(claim.status_code for claim in claims)
    assert statuses["22"] >= 5 and statuses["4"] >= 50 and statuses["1"] > 1_000
    assert sum(len(r.provider_adjustments) for r in result.remittances) >= 2


# --------------------------------------------------------------------------- caps per transaction set (hostile files)


TWO_SETS = x12(interchange([BODY_5010, with_segment(BODY_5010, "TRN*", "TRN*1*EFT0002*1512345678")]))


def test_a_set_with_more_segments_than_the_cap_is_a_dead_letter_at_its_st_and_the_next_set_is_read() -> None:
    flooded = [*BODY_5010[:-1], *(["LX*1"] * 40), BODY_5010[-1]]
    data = x12(interchange([flooded, with_segment(BODY_5010, "TRN*", "TRN*1*EFT0002*1512345678")]))
    result = read_835(data, file="flood.835", limits=reader_module.ReaderLimits(segments=60))
    (dead,) = result.dead_letters
    assert dead.error_code == "set_too_large"
    assert f"has {len(flooded) + 2} segments" in dead.message and "TAKEBACK_MAX_SET_SEGMENTS" in dead.message
    assert (dead.source.file, dead.source.segment_number, dead.source.segment_tag) == ("flood.835", 3, "ST")
    assert dead.source.byte_offset == data.index(b"ST*835")
    assert [r.trace_number for r in result.remittances] == ["EFT0002"]  # the file's other set flows


def test_a_set_past_the_claims_cap_is_a_dead_letter_at_the_first_claim_past_it() -> None:
    result = read_835(TWO_SETS, limits=reader_module.ReaderLimits(claims=1))
    assert [d.error_code for d in result.dead_letters] == ["set_too_large", "set_too_large"]
    first = result.dead_letters[0]
    second_clp = TWO_SETS.index(b"CLP*PCN002")
    assert (first.source.segment_tag, first.source.byte_offset) == ("CLP", second_clp)
    clp = next(s for s in BODY_5010 if s.startswith("CLP*PCN002"))
    assert first.source.segment_number == 4 + BODY_5010.index(clp)  # after ISA, GS and ST
    assert "more than 1 claims (CLP)" in first.message and "TAKEBACK_MAX_SET_CLAIMS" in first.message


def test_adjustments_count_every_cas_triplet_and_plb_pair() -> None:
    # the standard set has 5 CAS adjustments (one CAS holds two) and 2 PLB adjustments
    assert read_835(STANDARD, limits=reader_module.ReaderLimits(adjustments=7)).remittances
    result = read_835(STANDARD, limits=reader_module.ReaderLimits(adjustments=6))
    (dead,) = result.dead_letters
    assert (dead.error_code, dead.source.segment_tag) == ("set_too_large", "PLB")
    assert "TAKEBACK_MAX_SET_ADJUSTMENTS" in dead.message
    result = read_835(STANDARD, limits=reader_module.ReaderLimits(adjustments=2))
    assert (result.dead_letters[0].source.segment_tag, result.dead_letters[0].source.byte_offset) == (
        "CAS",
        STANDARD.index(b"CAS*PR*1*150.00"),
    )


def test_a_set_too_large_keeps_an_excerpt_not_the_whole_set() -> None:
    flooded = [*BODY_5010[:-1], *(["CAS*CO*45*0"] * 20_000), BODY_5010[-1]]
    data = x12(interchange([flooded]))
    (dead,) = read_835(data, limits=reader_module.ReaderLimits(adjustments=10_000)).dead_letters
    assert dead.error_code == "set_too_large" and dead.source.segment_tag == "CAS"
    assert dead.raw is not None and dead.raw.startswith("ST*835") and len(dead.raw) == 64 * 1024


def test_the_default_caps_stop_the_reviews_flood_of_tiny_segments() -> None:
    """The review's 15 MB file of LX segments in one set, at a size past the default segment cap."""
    head, tail = STANDARD.split(b"PLB*", 1)
    data = head + b"LX*1~" * 1_000_001 + b"PLB*" + tail
    result = read_835(data, file="lx.835")
    (dead,) = result.dead_letters
    assert dead.error_code == "set_too_large" and "1,000,000 (TAKEBACK_MAX_SET_SEGMENTS)" in dead.message
    assert dead.source.byte_offset == data.index(b"ST*835") and dead.source.segment_number == 3
