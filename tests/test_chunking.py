"""Cutting large files into pieces that each read on their own (streams/domain/chunking.py)."""

from __future__ import annotations

from pathlib import Path

from streams.domain.chunking import OVERSIZE_EXCERPT, split_input
from streams.domain.x12 import read_835

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
