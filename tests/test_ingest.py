"""The ingest step without a broker (streams/ingest.py), and the reader's notices shown to operators."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.broker import EmbeddedBroker
from streams.domain.x12 import read_835
from streams.domain.x12.notices import NOTICE_CODES
from streams.ingest import DEAD_LETTER_HEADROOM, IngestedInput, ingest_input
from streams.kafka_io import CHUNK_HEADER, OVERSIZE_HEADER, SOURCE_FILE_HEADER, SOURCE_ID_HEADER, ensure_topics
from streams.metrics import WorkerMetrics
from streams.reader_notices import OTHER, notice_code
from streams.runner import WorkerProcess, isolated, publish_and_collect
from streams.samples import CORPUS_DIR
from streams.settings import Settings
from tests.support.builders import claim, remittance

GOOD = (CORPUS_DIR / "edi835parser_835_5010_minimal_single_claim.835").read_bytes()
ST = GOOD.index(b"ST*")
SE_END = GOOD.index(b"~", GOOD.index(b"SE*")) + 1
GE = GOOD.index(b"GE*")
WITH_AN_837 = GOOD[:GE] + b"ST*837*0002~BHT*0019~SE*3*0002~" + GOOD[GE:]
SETTINGS = Settings()


def ingest(data: bytes, *headers: tuple[str, bytes], settings: Settings = SETTINGS) -> IngestedInput:
    base = [(SOURCE_ID_HEADER, b"run-000001"), (SOURCE_FILE_HEADER, b"era.835")]
    return ingest_input(
        data,
        [*base, *headers],
        topic="era.raw",
        partition=2,
        offset=41,
        published_at=1_700_000_000.0,
        settings=settings,
    )


def test_an_835_becomes_remittances_numbered_in_the_input_with_their_publication_time() -> None:
    result = ingest(GOOD + GOOD.replace(b"CHK12345", b"CHK12346"))
    assert [r.sequence for r in result.remittances] == [0, 1]
    assert {r.published_at for r in result.remittances} == {1_700_000_000.0}
    assert {(r.source.source_id, r.source.file) for r in result.remittances} == {("run-000001", "era.835")}
    receipt = result.receipt()
    assert (receipt.stage, receipt.source_id, receipt.remittances, receipt.dead_letters) == (
        "ingested",
        "run-000001",
        2,
        0,
    )


def test_without_headers_the_source_is_the_partition_and_offset() -> None:
    result = ingest_input(GOOD, None, topic="era.raw", partition=2, offset=41, published_at=None, settings=SETTINGS)
    assert result.source_id == "2:41" and result.file is None


def test_a_remittance_as_json_takes_the_input_as_its_source() -> None:
    event = remittance("CHK1", "2026-01-10", [claim("PCN1", "1", "100.00")])
    (read,) = ingest(event.model_dump_json().encode()).remittances
    assert read.remittance_id == event.remittance_id
    assert (read.source.source_id, read.source.file, read.sequence) == ("run-000001", "era.835", 0)


def test_json_that_breaks_the_contract_is_an_invalid_event_dead_letter() -> None:
    (dead,) = ingest(b'{"remittance_id": 7}').dead_letters
    assert (dead.stage, dead.error_code) == ("ingest", "invalid_event")
    assert (dead.source.topic, dead.source.partition, dead.source.offset) == ("era.raw", 2, 41)


def test_a_json_remittance_cannot_accept_itself_unbalanced() -> None:
    """Rules §7: only `dead-letters replay --accept` accepts an unbalanced remittance, never a flag in the input."""
    event = remittance("CHK1", "2026-01-10", [claim("PCN1", "1", "100.00")])
    event.flags = ["accepted_unbalanced"]
    result = ingest(event.model_dump_json().encode())
    assert result.remittances == []
    (dead,) = result.dead_letters
    assert dead.error_code == "invalid_event" and "--accept" in dead.message


def test_an_input_over_the_limit_is_not_read_and_keeps_an_excerpt() -> None:
    result = ingest(GOOD + b" " * 10_000, settings=Settings(max_input_bytes=len(GOOD)))
    (dead,) = result.dead_letters
    assert result.remittances == [] and dead.error_code == "input_too_large"
    assert dead.raw is not None and len(dead.raw) == 4096


def test_an_oversize_piece_is_a_dead_letter_at_its_place_in_the_file() -> None:
    result = ingest(GOOD[:100], (CHUNK_HEADER, b"5000:120"), (OVERSIZE_HEADER, b"99000000"))
    (dead,) = result.dead_letters
    assert dead.error_code == "input_too_large" and "99,000,000 bytes" in dead.message
    assert (dead.source.byte_offset, dead.source.segment_tag) == (5000, "ST")


def test_dead_letters_of_a_piece_point_into_the_whole_file() -> None:
    header_length = ST  # the piece repeats the file's envelope header before its own sets
    unbalanced = GOOD.replace(b"BPR*I*1500.50", b"BPR*I*1.50", 1)
    alone = ingest(unbalanced).dead_letters[0].source.byte_offset
    in_piece = ingest(unbalanced, (CHUNK_HEADER, f"70000:{header_length}".encode())).dead_letters[0]
    assert alone is not None and alone >= header_length
    assert in_piece.source.byte_offset == alone - header_length + 70000


# --------------------------------------------------------------------------- the reader's notices


NOTICE_INPUTS = {
    "non_835_set_skipped": WITH_AN_837,
    "unterminated_set_skipped": GOOD[:GE] + b"ST*837*77~BHT*0019~" + GOOD[GE:],
    "bytes_before_first_segment": b"From: clearinghouse\n\n" + GOOD,
    "no_envelope": GOOD[ST:SE_END],
    "se_without_st": GOOD[:ST] + b"SE*2*9999~" + GOOD[ST:],
    "group_without_ge": GOOD[:SE_END],
    "interchange_without_iea": GOOD[:SE_END],
    "ge_without_group": GOOD + b"GE*1*1~IEA*1*000000001~",
    "iea_without_interchange": GOOD + b"GE*1*1~IEA*1*000000001~",
    "segments_outside_sets": GOOD[:ST] + b"REF*ZZ*X~" + GOOD[ST:],
}


def test_every_notice_the_reader_gives_has_a_code() -> None:
    assert set(NOTICE_INPUTS) == NOTICE_CODES
    for code, data in NOTICE_INPUTS.items():
        notices = read_835(data).notices
        assert OTHER not in {notice_code(n) for n in notices}, notices
        assert code in {notice_code(n) for n in notices}, (code, notices)


def test_an_unknown_notice_is_counted_as_other() -> None:
    assert notice_code("a notice nobody has written yet") == OTHER


def test_ingest_keeps_the_notices_and_summarizes_them_without_names() -> None:
    result = ingest(WITH_AN_837)
    assert len(result.remittances) == 1 and result.dead_letters == []
    assert result.notice_counts == {"non_835_set_skipped": 1}
    assert result.summary() == "ingested run-000001: 1 remittances, 0 dead letters, notices: non_835_set_skipped x1"
    assert ingest(GOOD).summary() == "ingested run-000001: 1 remittances, 0 dead letters"


def test_notices_are_counted_by_code_in_the_metrics() -> None:
    metrics = WorkerMetrics()
    metrics.ingested([], ingest(WITH_AN_837 + GOOD[:SE_END]).notice_counts)
    value = metrics.registry.get_sample_value
    assert value("takeback_reader_notices_total", {"code": "non_835_set_skipped"}) == 1
    assert value("takeback_reader_notices_total", {"code": "group_without_ge"}) == 1


@pytest.mark.broker
def test_a_worker_counts_and_logs_the_notices_of_what_it_ingests(broker: EmbeddedBroker, tmp_path: Path) -> None:
    settings = isolated(Settings(broker=broker.url))
    asyncio.run(ensure_topics(settings))
    log = tmp_path / "worker.log"
    with WorkerProcess(settings, log) as worker:
        _, results = asyncio.run(publish_and_collect(settings, worker, [("mixed.835", WITH_AN_837)], timeout=120))
        assert len(results.processed) == 1 and results.dead_letters == []
        with urllib.request.urlopen(f"http://127.0.0.1:{settings.web_port}/metrics", timeout=10) as response:
            exposition = response.read().decode()
    samples = {
        sample.labels.get("code"): sample.value
        for family in text_string_to_metric_families(exposition)
        if family.name == "takeback_reader_notices"
        for sample in family.samples
        if sample.name == "takeback_reader_notices_total"
    }
    assert samples == {"non_835_set_skipped": 1.0}
    (line,) = [x for x in log.read_text().splitlines() if "notices:" in x]
    assert line.rstrip().endswith("1 remittances, 0 dead letters, notices: non_835_set_skipped x1")
    assert "mixed.835" not in line and "DOE" not in line and "PROVIDER" not in line


def cas_flood(count: int) -> bytes:
    """The review's stalling file, smaller: one claim, then `count` CAS segments in its last service line."""
    se = GOOD.index(b"SE*")
    return GOOD[:se] + b"CAS*CO*45*0~" * count + GOOD[se:]


def test_a_set_whose_remittance_event_would_not_fit_one_message_is_a_dead_letter_and_the_rest_flows() -> None:
    """Such an event made the producer refuse it, which crashed the ingest agent and stalled its partition."""
    flood = cas_flood(2_000)  # 24 KB of X12, about 84 KB as an event
    second = GOOD[ST:SE_END].replace(b"CHK12345", b"CHK12346")
    ge = flood.index(b"GE*")
    data = flood[:ge] + second + flood[ge:]
    settings = Settings(max_input_bytes=60_000)
    result = ingest(data, settings=settings)
    (dead,) = result.dead_letters
    assert dead.error_code == "set_too_large" and "TAKEBACK_MAX_INPUT_BYTES" in dead.message
    assert (dead.source.byte_offset, dead.source.segment_number, dead.source.segment_tag) == (ST, 3, "ST")
    assert dead.raw is not None and dead.raw.startswith("ST*835") and "CAS*CO*45*0~" in dead.raw
    assert [r.trace_number for r in result.remittances] == ["CHK12346"]
    assert len(result.payloads) == 1 and len(result.payloads[0]) <= 60_000
    assert result.receipt().remittances == 1


def test_the_payload_is_the_compact_remittance() -> None:
    (remittance,) = (result := ingest(GOOD)).remittances
    assert result.payloads == [remittance.model_dump_json(exclude_defaults=True).encode()]


def test_a_dead_letter_whose_raw_input_escapes_past_one_message_keeps_an_excerpt() -> None:
    """Control characters take six bytes each in JSON: a cut-short set of them would not fit one message whole."""
    se = GOOD.index(b"SE*")
    data = GOOD[:se] + b"REF*ZZ*" + b"\x01" * 200_000 + b"~"  # no SE: a truncated set, kept whole as its raw input
    settings = Settings(max_input_bytes=300_000)
    (dead,) = ingest(data, settings=settings).dead_letters
    assert dead.error_code == "truncated" and dead.raw is not None
    assert dead.raw.startswith("ST*835") and len(dead.raw) == 64 * 1024
    assert len(dead.model_dump_json()) <= 300_000 + DEAD_LETTER_HEADROOM  # what the producer takes, with headers
    whole = ingest(data, settings=Settings(max_input_bytes=2_000_000)).dead_letters[0]  # room for all of it
    assert whole.raw is not None and len(whole.raw) > 200_000
