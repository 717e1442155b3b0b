"""The HTTP API over real HTTP, against two running workers that share the partitions."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from aiokafka.partitioner import murmur2

from streams.broker import EmbeddedBroker
from streams.domain.x12 import read_835
from streams.runner import RunningPipeline, feed_and_collect
from tests.support.workers import ready_workers

pytestmark = pytest.mark.broker

FILES = (
    "synthetic_835_5010_plb_wo_fb_l6_72_j1_wu_reversals_denials.835",
    "oopfactory_835_4010_deidentified_6st_375_claims.dat",
    "edi835parser_835_5010_nevada_medicaid_3st_plb_ct_cs_unpadded_isa.txt",
    "lfh_835_5010_medicare_part_a_plb_cv.835",
    "moov_835_5010_single_claim_invalid_bpr16_date.txt",
)
SCENARIOS = Path(__file__).parent / "scenarios"
# Rules §5: NORTH and SOUTH share a TIN; a WO in SOUTH's payment recovers NORTH's claim (tests/scenarios/43_...)
SIBLINGS = ("1000000434", "1000001432")
SIBLING_FILES = sorted((SCENARIOS / "43_offset_sibling_npi_same_tin").glob("*.835"))
# Rules §11, §13: a Medicare contractor (CLP06 MB) with one balance carried from 2026-02-02 (tests/scenarios/80_...)
MEDICARE_PROVIDER = "1000000800"
MEDICARE_FILES = sorted((SCENARIOS / "80_medicare_clocks_from_clp06_mb").glob("*.835"))


@dataclass
class Cluster:
    urls: list[str]
    takebacks: dict
    net_cash: dict
    files: list[Path]


def get(url: str) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body = response.read().decode()
            status = response.status
            kind = response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        body, status, kind = error.read().decode(), error.code, "application/json"
    except urllib.error.URLError:
        return 0, None  # not listening (yet)
    return status, json.loads(body) if "json" in kind else body


def wait_until(check, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError("condition not met in time")


@pytest.fixture(scope="module")
def cluster(broker: EmbeddedBroker, corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with ready_workers(broker.url, "api", tmp_path_factory.mktemp("api")) as workers:
        urls = workers.urls
        files = [*(corpus / f for f in FILES), *SIBLING_FILES, *MEDICARE_FILES]
        pipeline = RunningPipeline(workers.settings, workers.processes[0])
        results = asyncio.run(feed_and_collect(pipeline, files, timeout=120, progress=False))
        # the cash agent is one hop behind the rows the pipeline published
        wait_until(lambda: (get(f"{urls[1]}/providers?limit=500")[1] or {}).get("total") == len(results.net_cash))
        yield Cluster(urls=urls, takebacks=results.takebacks, net_cash=results.net_cash, files=files)


def test_any_worker_answers_for_any_provider(cluster: Cluster) -> None:
    assert len(cluster.net_cash) >= 5
    for provider_id, row in cluster.net_cash.items():
        for url in cluster.urls:
            status, body = get(f"{url}/providers/{provider_id}")
            assert status == 200, (url, provider_id, body)
            assert body == row.model_dump(mode="json")


def test_provider_list_is_paged_and_complete(cluster: Cluster) -> None:
    status, first = get(f"{cluster.urls[0]}/providers?limit=2")
    assert status == 200 and first["total"] == len(cluster.net_cash) and len(first["items"]) == 2
    _, rest = get(f"{cluster.urls[0]}/providers?limit=500&offset=2")
    ids = [r["provider_id"] for r in first["items"] + rest["items"]]
    assert ids == sorted(cluster.net_cash)
    assert get(f"{cluster.urls[0]}/providers?limit=0")[0] == 400


def test_takebacks_of_a_provider_filter_by_kind_and_date(cluster: Cluster) -> None:
    provider = "1234567893"  # the synthetic file's payee: WO, WU and claim reversals
    expected = [t for t in cluster.takebacks.values() if t.provider_id == provider]
    for url in cluster.urls:
        status, body = get(f"{url}/providers/{provider}/takebacks?kind=recoupment")
        assert status == 200
        assert {t["event_id"] for t in body["items"]} == {t.event_id for t in expected if t.kind == "recoupment"}
    _, none = get(f"{cluster.urls[0]}/providers/{provider}/takebacks?since=2099-01-01")
    assert none["items"] == []
    assert get(f"{cluster.urls[0]}/providers/{provider}/takebacks?kind=bogus")[0] == 400
    assert get(f"{cluster.urls[0]}/providers/unknown-provider/takebacks")[0] == 404


def test_sibling_npis_of_one_tin_each_see_the_offset_through_their_shared_ledger(cluster: Cluster) -> None:
    """Rules §5: both NPIs' rows name one ledger (a hash, not the TIN); each NPI's takebacks and page, asked of any
    worker, come from that ledger (two hops at most): the WO is NORTH's claim netted from SOUTH's payment."""
    north, south = SIBLINGS
    # the ledger's partition and the two rows' are three of the four: with two workers, some request takes two hops
    partitions = {(murmur2(k.encode()) & 0x7FFFFFFF) % 4 for k in (cluster.net_cash[north].ledger_key, *SIBLINGS)}
    assert len(partitions) == 3
    offset = only([t for t in cluster.takebacks.values() if t.trace_number == "EFT4303"])
    assert (offset.provider_id, offset.payee_provider_id, offset.claim_id) == (north, south, "PCN4301")
    keys = {cluster.net_cash[npi].ledger_key for npi in SIBLINGS}
    assert len(keys) == 1 and keys.pop().startswith("tin-")
    assert not any("910000043" in (row.ledger_key or "") for row in cluster.net_cash.values())
    for npi in SIBLINGS:
        for url in cluster.urls:
            status, body = get(f"{url}/providers/{npi}/takebacks")
            assert status == 200, (url, npi, body)
            assert [t["event_id"] for t in body["items"]] == [offset.event_id]
            status, page = get(f"{url}/providers/{npi}/view")
            assert status == 200 and offset.event_id in page, (url, npi, status)
            status, page = get(f"{url}/providers/{npi}/takebacks/{offset.event_id}")
            assert status == 200 and "PCN4301" in page, (url, npi, status)
    # each NPI's page shows its own payments only: SOUTH's bank got EFT4303, NORTH's EFT4301
    for npi, paid, other in ((north, "EFT4301", "EFT4303"), (south, "EFT4303", "EFT4301")):
        _, page = get(f"{cluster.urls[0]}/providers/{npi}/view")
        payments = page.split('<h2 id="payments">', 1)[1].split("<h2", 1)[0]
        assert paid in payments and other not in payments, (npi, payments)


def only(items: list):
    assert len(items) == 1, items
    return items[0]


def test_takebacks_come_with_what_is_due_as_of_today_and_filter_by_it(cluster: Cluster) -> None:
    """Day 1 = 2026-02-02: the open balance's rebuttal day is 02-16, stop-recoupment day 30 is 03-03; the settled
    one keeps only its redetermination day (06-01). Any worker answers the same."""
    for url in cluster.urls:
        base = f"{url}/providers/{MEDICARE_PROVIDER}/takebacks"
        status, page = get(f"{base}?today=2026-02-27&due_within=7")
        assert status == 200 and page["today"] == "2026-02-27"
        (item,) = page["items"]
        assert item["claim_id"] == "PCN8001" and item["due"]["days_left"] == 4
        assert item["due"]["next_deadline"]["deadline_kind"] == "medicare_stop_recoupment"
        assert "may" in item["due"]["sentence"] and item["due"]["overdue"]
        _, overdue = get(f"{base}?today=2026-02-20&overdue=true")
        assert [t["claim_id"] for t in overdue["items"]] == ["PCN8001"]
        _, by_act_by = get(f"{base}?today=2026-02-20&sort=act_by")
        assert [t["claim_id"] for t in by_act_by["items"]] == ["PCN8001", "PCN8002"]
        assert get(f"{base}?today=soon")[0] == 400 and get(f"{base}?sort=amount")[0] == 400


def test_the_forecast_of_a_provider_counts_medicare_day_41(cluster: Cluster) -> None:
    """Day 41 from 2026-02-02 is 2026-03-14: within 7 days of 03-10, not of 03-01; net cash 800 before it."""
    for url in cluster.urls:
        base = f"{url}/providers/{MEDICARE_PROVIDER}/forecast"
        _, early = get(f"{base}?today=2026-03-01")
        (line,) = early["items"]
        assert line["payer_id"] == "1999999980"
        assert (Decimal(line["within_7_days"]), Decimal(line["within_30_days"])) == (0, 300)
        _, late = get(f"{base}?today=2026-03-10")
        assert Decimal(late["items"][0]["within_7_days"]) == 300
        assert Decimal(late["items"][0]["net_cash_after_7_days"]) == 500
    assert get(f"{cluster.urls[0]}/providers/0000000000/forecast")[0] == 404


def test_health_readiness_and_openapi(cluster: Cluster) -> None:
    for url in cluster.urls:
        assert get(f"{url}/healthz") == (200, {"status": "ok"})
        assert get(f"{url}/readyz")[0] == 200
    status, document = get(f"{cluster.urls[0]}/openapi.json")
    assert status == 200 and document["openapi"].startswith("3.")
    assert {"/providers", "/providers/{provider_id}", "/providers/{provider_id}/takebacks"} <= set(document["paths"])


def metric_sum(text: str, name: str) -> Decimal:
    total = Decimal(0)
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += Decimal(line.rsplit(" ", 1)[1])
    return total


def test_metrics_of_all_workers_add_up_to_the_takebacks_found(cluster: Cluster) -> None:
    texts = [get(f"{url}/metrics")[1] for url in cluster.urls]
    found = [t for t in cluster.takebacks.values() if not t.withdrawn]
    assert sum(metric_sum(t, "takeback_takebacks_total") for t in texts) == len(found)
    dollars = sum(metric_sum(t, "takeback_takeback_amount_dollars_total") for t in texts)
    assert float(dollars) == pytest.approx(float(sum(t.amount for t in found)))
    net = sum(metric_sum(t, "takeback_net_cash_dollars") for t in texts)
    assert float(net) == pytest.approx(float(sum(r.net_cash for r in cluster.net_cash.values())))
    names = patient_last_names(cluster.files)
    assert len(names) > 20  # the inputs do hold patients, so the check below can fail
    for text in texts:
        leaked = sorted(n for n in names if re.search(rf"(?<![0-9A-Za-z]){re.escape(n)}(?![0-9A-Za-z])", text))
        assert not leaked and "patient" not in text.lower(), f"patient names in /metrics: {leaked}"


def patient_last_names(files: list[Path]) -> set[str]:
    """Patient last names (NM1*QC) in the cluster's inputs, read with patient data on."""
    remittances = [r for f in files for r in read_835(f.read_bytes(), include_patient_data=True).remittances]
    patients = [c.patient for r in remittances for c in r.claims if c.patient]
    return {p.last_name for p in patients if p.last_name and len(p.last_name) >= 4}
