"""The X12 835 reader over every file of the public ERA corpus (corpus/era, see SOURCES.md there).

Expectations were written by hand from SOURCES.md and the file contents.  Several corpus files do
not balance (BPR02 != sum CLP04 - sum PLB04) and are dead letters by rules §7; each has a reason,
checked below by fixing BPR02 in the dead letter's raw text and replaying it, which must then read
cleanly with the claims SOURCES.md lists:

* oopfactory de-identified files: BPR02 was masked with 9s (99,999.99, 999.99, ...).
* oopfactory 4010 BOM file, edi835parser L6 file: a PLB (CV -1.27, L6 -10.30) was added to a
  sample whose claims sum exactly to BPR02, without adjusting BPR02.
* pyx12 reversals file: an excerpt (3 claims) of a larger payment (BPR02 5,950.21).
* TigerShark 4010 files: BPR02 is the placeholder 12345.67.
"""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal

import pytest

from schemas.events import Remittance
from streams.domain.x12 import ReadResult, read_835
from streams.samples import CORPUS_DIR

CORPUS = CORPUS_DIR
FILES = sorted(p.name for p in CORPUS.iterdir() if p.name != "SOURCES.md")

UNBALANCED = "unbalanced_remittance"
DEIDENTIFIED_96 = "oopfactory_835_4010_deidentified_96_claims_reversals.dat"
DEIDENTIFIED_375 = "oopfactory_835_4010_deidentified_6st_375_claims.dat"
OOPFACTORY_BOM = "oopfactory_835_4010_bom_indented_reversals_denials_plb_cv.txt"
NEVADA = "edi835parser_835_5010_nevada_medicaid_3st_plb_ct_cs_unpadded_isa.txt"
UHC = "edi835parser_835_5010_uhc_single_line.txt"

# file -> (remittances, claims in them, dead-letter codes in file order)
EXPECTED: dict[str, tuple[int, int, list[str]]] = {
    "edi835parser_835_5010_blue_cross_nc_no_envelope.txt": (1, 1, []),
    "edi835parser_835_5010_emedny_medicaid.txt": (1, 3, []),
    "edi835parser_835_5010_exhaustive_masked_no_envelope.txt": (1, 1, []),
    "edi835parser_835_5010_minimal_single_claim.835": (1, 1, []),
    "edi835parser_835_5010_nevada_medicaid_3st_plb_ct_cs_unpadded_isa.txt": (3, 3, []),
    "edi835parser_835_5010_two_st_two_payees_plb_l6_placeholder_plb.txt": (0, 0, ["bad_amount", UNBALANCED]),
    "edi835parser_835_5010_uhc_single_line.txt": (1, 2, []),
    "lfh_835_5010_cob_contractual_adjustment.835": (1, 1, []),
    "lfh_835_5010_managed_care.835": (0, 0, ["bad_date"]),  # BPR16 20002316
    "lfh_835_5010_medicare_part_a_plb_cv.835": (1, 2, []),
    "lfh_835_5010_secondary_payment.835": (1, 2, []),
    "lfh_835_5010_tertiary_payment.835": (1, 1, []),
    "moov_835_5010_single_claim_invalid_bpr16_date.txt": (0, 0, ["bad_date"]),
    "moov_835_5010_two_st_two_payees_denials_plb_50.txt": (0, 0, ["negative_payment", "negative_payment"]),
    "oopfactory_835_4010_bom_indented_reversals_denials_plb_cv.txt": (0, 0, [UNBALANCED]),
    "oopfactory_835_4010_deidentified_6st_375_claims.dat": (2, 3, [UNBALANCED] * 4),
    "oopfactory_835_4010_deidentified_96_claims_reversals.dat": (0, 0, [UNBALANCED]),
    "oopfactory_835_5010_three_isa_deidentified.txt": (0, 0, [UNBALANCED] * 3),
    "oopfactory_835_bom_indented_bad_gs08_short_clp.txt": (0, 0, ["malformed_segment"]),
    "pyx12_835_4010_bad_header_looping_two_payees.txt": (0, 0, ["malformed_segment"]),
    "pyx12_835_4010_reversals_plb_cs.txt": (0, 0, [UNBALANCED]),
    "pyx12_835_5010_denial_multiple_svc_lq.txt": (1, 1, []),
    "pyx12_mult_isa_mixed_sets_empty_835s.txt": (0, 0, ["missing_segment"] * 4),
    "synthetic_835_5010_plb_wo_fb_l6_72_j1_wu_reversals_denials.835": (1, 30, []),
    "tigershark_835_4010_pipe_delims_plb_wo_missing_iea.txt": (0, 0, [UNBALANCED]),
    "tigershark_835_4010_pipe_delims_two_st.txt": (1, 1, [UNBALANCED]),
    "tigershark_835_5010_example2.txt": (1, 2, []),
    "tigershark_835_5010_example3.txt": (1, 2, []),
    "tigershark_835_5010_status25_pipe_component_sep.txt": (1, 3, []),
    "x12sdk_835_5010_generated_bundling_denials.835": (1, 3, []),
    "x12sdk_835_5010_managed_care_payer_contacts.835": (0, 0, ["bad_date"]),  # BPR16 20002316
}


@pytest.fixture(scope="module")
def results() -> dict[str, ReadResult]:
    return {name: read(name) for name in FILES}


def read(name: str, **options: bool) -> ReadResult:
    return read_835((CORPUS / name).read_bytes(), file=name, source_id=f"corpus-{name}", **options)


def text_of(name: str) -> str:
    return (CORPUS / name).read_bytes().decode("latin-1")


def element_separator(text: str) -> str:
    start = re.search(r"(ISA|ST)[^A-Za-z0-9\s]", text)
    assert start is not None
    return text[start.end() - 1]


def segments(text: str, tag: str) -> list[list[str]]:
    """Segments with ``tag``, found in the raw text independently of the reader."""
    separator = element_separator(text)
    found = re.finditer(rf"(?:^|[~\n])[\s~]*{tag}{re.escape(separator)}([^~\n]*)", text)
    return [[tag, *match.group(1).rstrip("\r").split(separator)] for match in found]


def claims_of(result: ReadResult) -> list:
    return [claim for remittance in result.remittances for claim in remittance.claims]


# --------------------------------------------------------------------------- every file


def test_the_expectations_cover_the_whole_corpus() -> None:
    assert sorted(EXPECTED) == FILES
    assert len(FILES) == 31


@pytest.mark.parametrize("name", FILES)
def test_each_file_reads_as_expected(results: dict[str, ReadResult], name: str) -> None:
    result = results[name]
    assert result.remittances or result.dead_letters
    remittances, claims, codes = EXPECTED[name]
    assert len(result.remittances) == remittances
    assert len(claims_of(result)) == claims
    assert [letter.error_code for letter in result.dead_letters] == codes


@pytest.mark.parametrize("name", FILES)
def test_every_dead_letter_says_where_and_why(results: dict[str, ReadResult], name: str) -> None:
    text = text_of(name)
    separator = element_separator(text)
    for letter in results[name].dead_letters:
        source = letter.source
        assert source.file == name and source.source_id == f"corpus-{name}"
        assert source.byte_offset is not None and source.segment_number and source.segment_tag
        assert letter.error_code and len(letter.message) > 30
        # the offset points at the offending segment itself
        assert text[source.byte_offset :].startswith(source.segment_tag + separator)
        # the raw text is the whole transaction set, ready to fix and replay
        assert letter.raw is not None and letter.raw.startswith("ST" + separator)
        assert letter.raw in text
        if letter.error_code != "truncated":
            assert re.search(rf"SE{re.escape(separator)}[^~\n]*\s*~?\s*$", letter.raw)


@pytest.mark.parametrize("name", FILES)
def test_remittances_point_at_their_st_and_round_trip(results: dict[str, ReadResult], name: str) -> None:
    text = text_of(name)
    for index, remittance in enumerate(results[name].remittances):
        assert remittance.sequence == index
        assert text[remittance.source.byte_offset :].startswith("ST" + element_separator(text))
        assert Remittance.model_validate_json(remittance.model_dump_json()) == remittance
    for remittance in read(name, include_patient_data=True).remittances:
        assert Remittance.model_validate_json(remittance.model_dump_json()) == remittance


@pytest.mark.parametrize("name", FILES)
def test_reading_twice_gives_the_same_ids(results: dict[str, ReadResult], name: str) -> None:
    first, again = results[name], read(name)
    assert [r.remittance_id for r in again.remittances] == [r.remittance_id for r in first.remittances]
    assert [d.dead_letter_id for d in again.dead_letters] == [d.dead_letter_id for d in first.dead_letters]


@pytest.mark.parametrize("name", FILES)
def test_no_message_holds_patient_names_or_member_ids(results: dict[str, ReadResult], name: str) -> None:
    secrets = set()
    for nm1 in segments(text_of(name), "NM1"):
        if len(nm1) > 2 and nm1[1] == "QC":
            secrets.update(value.strip() for value in nm1[3:5] + nm1[9:10] if len(value.strip()) >= 2)
    messages = " ".join(letter.message for letter in results[name].dead_letters)
    for secret in secrets:
        assert not re.search(rf"(?<!\w){re.escape(secret)}(?!\w)", messages), secret
    for notice in results[name].notices:
        assert not any(secret in notice for secret in secrets if len(secret) >= 3)


def test_patient_data_only_with_the_flag(results: dict[str, ReadResult]) -> None:
    name = "x12sdk_835_5010_generated_bundling_denials.835"
    assert all(claim.patient is None for claim in claims_of(results[name]))
    patients = [claim.patient for claim in claims_of(read(name, include_patient_data=True))]
    assert [(p.last_name, p.member_id) for p in patients if p] == [
        ("MARTIN", "Z879378296"),
        ("DOE", "Z632374341"),
        ("TAYLOR", "X917061414"),
    ]


# --------------------------------------------------------------------------- unbalanced files: fix and replay


def independent_total(raw: str) -> Decimal:
    """sum CLP04 - sum PLB04/06/... counted from the raw text, not by the reader."""
    total = Decimal(0)
    for clp in segments(raw, "CLP"):
        total += Decimal(clp[4])
    for plb in segments(raw, "PLB"):
        total -= sum((Decimal(amount) for amount in plb[4::2] if amount.strip()), Decimal(0))
    return total


def with_bpr02(raw: str, amount: Decimal) -> str:
    """``raw`` with its BPR02 replaced by ``amount``."""
    e = re.escape(raw[2])
    return re.sub(rf"(BPR{e}[^{e}]*{e})[^{e}]*", lambda found: f"{found.group(1)}{amount}", raw, count=1)


def replayed(result: ReadResult) -> ReadResult:
    """Every unbalanced set fixed (BPR02 := claims - adjustments) and read again, plus the good ones."""
    out = ReadResult(list(result.remittances), [], [])
    for letter in result.dead_letters:
        assert letter.error_code == UNBALANCED and letter.raw is not None
        claims = sum((Decimal(clp[4]) for clp in segments(letter.raw, "CLP")), Decimal(0))
        assert f"claim payments ({claims:,.2f})" in letter.message
        again = read_835(with_bpr02(letter.raw, independent_total(letter.raw)).encode("latin-1"))
        assert again.dead_letters == [], [d.message for d in again.dead_letters]
        out.remittances.extend(again.remittances)
    return out


@pytest.mark.parametrize(
    ("name", "remittances", "statuses"),
    [
        (DEIDENTIFIED_96, 1, {"22": 19, "1": 51, "2": 26}),
        (DEIDENTIFIED_375, 6, {"19": 292, "1": 73, "22": 8, "2": 1, "4": 1}),
        ("oopfactory_835_5010_three_isa_deidentified.txt", 3, {"4": 16, "1": 39, "2": 1}),
        (OOPFACTORY_BOM, 1, {"1": 2, "4": 3, "2": 1, "25": 1, "22": 2}),
        ("pyx12_835_4010_reversals_plb_cs.txt", 1, {"22": 2, "1": 1}),
        ("tigershark_835_4010_pipe_delims_plb_wo_missing_iea.txt", 1, {"1": 2}),
        ("tigershark_835_4010_pipe_delims_two_st.txt", 2, {"1": 2}),
    ],
)
def test_unbalanced_files_read_once_bpr02_is_fixed(
    results: dict[str, ReadResult], name: str, remittances: int, statuses: dict[str, int]
) -> None:
    fixed = replayed(results[name])
    assert len(fixed.remittances) == remittances
    assert Counter(claim.status_code for claim in claims_of(fixed)) == statuses


def test_the_96_claim_file_keeps_its_4010_reversal_detail(results: dict[str, ReadResult]) -> None:
    claims = claims_of(replayed(results[DEIDENTIFIED_96]))
    assert len(claims) == 96
    reversals = [claim for claim in claims if claim.is_reversal]
    assert len(reversals) == 19
    assert all(claim.payment <= 0 and claim.total_charge <= 0 for claim in reversals)


def test_the_pyx12_reversal_pair_and_cs_adjustments(results: dict[str, ReadResult]) -> None:
    (remittance,) = replayed(results["pyx12_835_4010_reversals_plb_cs.txt"]).remittances
    reversal, correction, _ = remittance.claims
    assert (reversal.claim_id, reversal.status_code) == ("123839-24635", "22")
    assert reversal.payment == Decimal("-210")
    assert reversal.service_lines[0].adjustments[0].group == "CR"
    assert reversal.service_lines[0].adjustments[0].amount == Decimal("-100")
    assert correction.claim_id == reversal.claim_id and correction.payment == Decimal("200")
    assert [(p.reason_code, p.amount) for p in remittance.provider_adjustments] == [
        ("CS", Decimal("-1008.1")),
        ("CS", Decimal("24.21")),
        ("CS", Decimal("5.95")),
    ]


def test_tigershark_pipes_wo_and_component_caret(results: dict[str, ReadResult]) -> None:
    (remittance,) = replayed(results["tigershark_835_4010_pipe_delims_plb_wo_missing_iea.txt"]).remittances
    (wo,) = remittance.provider_adjustments
    assert (wo.provider_id, wo.reason_code, wo.reference, wo.amount) == (
        "743238060",
        "WO",
        "12104411559120820 001GAL295513",
        Decimal("-361.19"),
    )
    assert remittance.claims[0].service_lines[0].procedure == "HC:88888"
    assert remittance.payer.id == "1111111111" and remittance.payee.id == "1333333333"


def test_oopfactory_bom_file_negative_units_and_cv(results: dict[str, ReadResult]) -> None:
    (remittance,) = replayed(results[OOPFACTORY_BOM]).remittances
    units = [line.units for claim in remittance.claims for line in claim.service_lines]
    assert Decimal("-2") in units and Decimal("-4") in units
    assert [(p.reason_code, p.reference, p.amount) for p in remittance.provider_adjustments] == [
        ("CV", "9876514", Decimal("-1.27"))
    ]


# --------------------------------------------------------------------------- file by file


def test_synthetic_file_plb_codes_and_reversals(results: dict[str, ReadResult]) -> None:
    (remittance,) = results["synthetic_835_5010_plb_wo_fb_l6_72_j1_wu_reversals_denials.835"].remittances
    assert remittance.x12_version == "5010" and remittance.flags == []
    assert len(remittance.claims) == 30
    assert Counter(c.status_code for c in remittance.claims) == {"1": 22, "4": 5, "22": 2, "2": 1}
    assert all(c.frequency_code == "8" for c in remittance.claims if c.is_reversal)
    adjustments = [(p.reason_code, p.reference, p.amount) for p in remittance.provider_adjustments]
    assert adjustments == [
        ("WO", "OVERPAY123", Decimal("125.00")),
        ("L6", None, Decimal("-3.27")),
        ("FB", "FWDBAL1", Decimal("-50.00")),
        ("72", "REFUND9", Decimal("-10.00")),
        ("J1", "NONREIMB1", Decimal("0.00")),
        ("WU", "RECOUP77", Decimal("20.00")),
    ]
    assert all(c.flags == [] for c in remittance.claims)


def test_short_clp_points_at_the_clp(results: dict[str, ReadResult]) -> None:
    name = "oopfactory_835_bom_indented_bad_gs08_short_clp.txt"
    (letter,) = results[name].dead_letters
    assert letter.error_code == "malformed_segment"
    assert (letter.source.segment_tag, letter.source.segment_number) == ("CLP", 98)
    assert text_of(name)[letter.source.byte_offset :].startswith("CLP*090909*22~")
    assert "has 2 elements" in letter.message


def test_invalid_bpr16_is_a_bad_date(results: dict[str, ReadResult]) -> None:
    (letter,) = results["moov_835_5010_single_claim_invalid_bpr16_date.txt"].dead_letters
    assert (letter.error_code, letter.source.segment_tag) == ("bad_date", "BPR")
    assert "BPR16" in letter.message


def test_mixed_sets_and_empty_835s(results: dict[str, ReadResult]) -> None:
    result = results["pyx12_mult_isa_mixed_sets_empty_835s.txt"]
    skipped = Counter(notice.split()[3] for notice in result.notices if notice.startswith("skipped"))
    assert skipped == {"278": 6, "837": 2}
    assert all("no payment segment (BPR)" in letter.message for letter in result.dead_letters)
    assert [letter.source.segment_number for letter in result.dead_letters] == [19, 23, 27, 49]


def test_unpadded_isa_three_sets_and_plb(results: dict[str, ReadResult]) -> None:
    zero, zero_two, paid = results[NEVADA].remittances
    assert zero.payment.handling_code == "H" and zero.payment.amount == 0 and zero.flags == []
    assert [p.reason_code for p in paid.provider_adjustments] == ["CT", "CT", "CS", "CS", "CS", "CS"]
    assert paid.payment.amount == Decimal("1812.27") and paid.claims == []
    assert {zero.payee.name, zero_two.payee.name, paid.payee.name} == {"SUMMER", "VALLEY", "SILVER"}


def test_component_separators_are_normalized(results: dict[str, ReadResult]) -> None:
    procedures = [
        line.procedure
        for name in ("tigershark_835_5010_status25_pipe_component_sep.txt", UHC)
        for claim in claims_of(results[name])
        for line in claim.service_lines
    ]
    assert procedures[:2] == ["AD:D1110", "AD:D2150"] and "HC:B4152" in procedures
    # a file declaring ':' but writing '>' keeps the '>' (it is data, not a separator)
    (claim,) = claims_of(results["lfh_835_5010_cob_contractual_adjustment.835"])
    assert claim.service_lines[0].procedure == "HC>55669"


def test_files_without_envelope(results: dict[str, ReadResult]) -> None:
    blue = results["edi835parser_835_5010_blue_cross_nc_no_envelope.txt"]
    assert "no ISA/GS envelope: delimiters taken from the ST segment" in blue.notices
    (remittance,) = blue.remittances
    assert remittance.flags == ["segment_count_mismatch"]  # SE*33 for 32 segments
    assert remittance.claims[0].flags == ["missing_amount"]  # SVC*HC:59426******742*742**1
    (masked,) = results["edi835parser_835_5010_exhaustive_masked_no_envelope.txt"].remittances
    assert [p.reason_code for p in masked.provider_adjustments] == ["GO", "XX", "XX", "XX", "XX", "XX"]
    assert masked.flags == ["zero_payment_not_h_or_p"]  # BPR*U*00
    # MIA05, MIA20-24
    assert masked.claims[0].remark_codes[:6] == ["XXXX", "XXXXX", "XXXXXX", "XXX", "X", "0"]


def test_claim_and_line_flags_in_real_files(results: dict[str, ReadResult]) -> None:
    (minimal,) = claims_of(results["edi835parser_835_5010_minimal_single_claim.835"])
    assert minimal.flags == ["claim_unbalanced"]  # claim CAS PR 499.50 repeats the lines' CAS
    (tertiary,) = claims_of(results["lfh_835_5010_tertiary_payment.835"])
    assert tertiary.flags == ["line_unbalanced"]  # SVC*HC*24599.00*1766.50*187.50**1: SVC01 lost its code
    clean = ("lfh_835_5010_secondary_payment.835", UHC)
    assert all(claim.flags == [] for name in clean for claim in claims_of(results[name]))


def test_medicare_part_a_remarks_and_cv(results: dict[str, ReadResult]) -> None:
    (remittance,) = results["lfh_835_5010_medicare_part_a_plb_cv.835"].remittances
    assert remittance.payment.amount == Decimal("150000.00") and remittance.payment.handling_code == "C"
    assert remittance.claims[1].remark_codes == ["MA02"]
    assert [(p.reason_code, p.reference, p.amount) for p in remittance.provider_adjustments] == [
        ("CV", "CP", Decimal("-1.27"))
    ]


def test_versions(results: dict[str, ReadResult]) -> None:
    versions = {
        name: {r.x12_version for r in results[name].remittances}
        for name in (
            "oopfactory_835_4010_deidentified_6st_375_claims.dat",
            "tigershark_835_4010_pipe_delims_two_st.txt",
            "lfh_835_5010_secondary_payment.835",
        )
    }
    assert versions == {
        "oopfactory_835_4010_deidentified_6st_375_claims.dat": {"999999X999X9"},
        "tigershark_835_4010_pipe_delims_two_st.txt": {"4010"},
        "lfh_835_5010_secondary_payment.835": {"5010"},
    }
