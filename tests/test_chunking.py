"""Cutting large files into pieces that each read on their own (streams/domain/chunking.py)."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from streams.domain.chunking import OVERSIZE_EXCERPT, Piece, ledger_key_of, split_input
from streams.domain.ids import ledger_key
from streams.domain.x12 import read_835
from tests.support.era_mix import era_stream

GOOD = "edi835parser_835_5010_minimal_single_claim.835"


def many_sets(good: bytes, count: int) -> bytes:
    start, end = good.index(b"ST*"), good.index(b"GE*")
    return good[:start] + good[start:end] * count + good[end:]


def test_a_large_file_is_cut_between_sets_and_every_piece_reads(corpus: Path) -> None:
    data = many_sets((corpus / GOOD).read_bytes(), 400)
    limit = len(data) // 7
    pieces = list(split_input(data, limit))
    assert len(pieces) >= 7 and all(len(p.data) <= limit and not p.oversize for p in pieces)
    assert sum(len(read_835(p.data).remittances) for p in pieces) == 400


def test_a_set_over_the_limit_travels_as_an_excerpt_with_its_size(corpus: Path) -> None:
    good = (corpus / GOOD).read_bytes()
    huge = good.replace(b"~\nCLP*", b"~REF*ZZ*" + b"A" * 5_000_000 + b"~\nCLP*", 1)
    (piece,) = split_input(huge, 1_000_000)
    assert piece.oversize > 5_000_000 and len(piece.data) <= OVERSIZE_EXCERPT + 1024


def test_a_huge_envelope_never_makes_a_message_over_the_limit(corpus: Path) -> None:
    good = (corpus / GOOD).read_bytes()
    huge_header = good.replace(b"~\nGS*", b"~REF*ZZ*" + b"A" * 5_000_000 + b"~\nGS*", 1)  # between ISA and GS
    pieces = list(split_input(huge_header, 1_000_000))
    assert pieces and all(len(p.data) <= OVERSIZE_EXCERPT for p in pieces) and all(p.oversize for p in pieces)


def test_a_file_paying_several_payees_is_cut_where_the_payee_changes() -> None:
    files = list(era_stream(20_000, providers=20))
    several = [data for _, data in files if len({r.provider_id for r in read_835(data).remittances}) > 1]
    assert several, "the mix has files with more than one payee"
    for data in several:
        pieces = list(split_input(data, 16 * 1024 * 1024))
        payees = [{r.provider_id for r in read_835(p.data).remittances} for p in pieces]
        assert all(len(p) == 1 for p in payees), "a piece pays one payee"
        assert all(a != b for a, b in pairwise(payees)), "cut only where the payee changes"
        whole = [r.remittance_id for r in read_835(data).remittances]
        assert [r.remittance_id for p in pieces for r in read_835(p.data).remittances] == whole  # same sets, in order


def test_a_file_paying_one_payee_travels_whole(corpus: Path) -> None:
    data = many_sets((corpus / GOOD).read_bytes(), 3)
    assert list(split_input(data, 16 * 1024 * 1024)) == [Piece(data, 0, 0)]


def every_piece(corpus: Path) -> list[bytes]:
    """The era.raw pieces of the corpus, the scenarios and the bench's mix (a TIN on some payees, none on others)."""
    files = [p.read_bytes() for p in sorted(corpus.iterdir()) if p.is_file() and p.suffix != ".md"]
    files += [p.read_bytes() for p in sorted((Path(__file__).parent / "scenarios").rglob("*.835"))]
    files += [data for _, data in era_stream(5_000, providers=20)]
    return [piece.data for data in files for piece in split_input(data, 16 * 1024 * 1024)]


def test_the_ledger_key_read_ahead_is_the_readers(corpus: Path) -> None:
    """Feeds key era.raw by it: the ingest agent applies a remittance where it reads it only when they agree."""
    checked = set()
    for data in every_piece(corpus):
        remittances = read_835(data).remittances
        if not remittances:
            continue
        payee = remittances[0].payee
        expected = ledger_key(payee.id, payee.tin, payee.id_qualifier)
        assert ledger_key_of(data) == expected
        checked.add(expected.startswith("tin-"))
    assert checked == {True, False}, "payees with and without a TIN were both read ahead"
