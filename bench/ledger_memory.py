"""Memory of ledger state per claim, domain only: ``python -m bench.ledger_memory [--claims N]``.

Applies an `era_mix` stream to ProviderLedgers (no broker, no Faust) and prints the
bytes of live Python objects per claim of state (tracemalloc), then the lines that
allocate most of it; then the bytes of the ledgers' stored records per claim (what the
table holds, and the memory store keeps in memory), and the live objects per claim of
the same ledgers restored from those records (what a restarted worker holds).
The worker's RSS with 1M claims is in `bench/pipeline_bench.py`.
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc

from streams.domain.ledger import ProviderLedger, apply_remittance, facts_from_json
from streams.domain.ledger_records import is_facts_key, ledger_from_records, records_to_write
from streams.domain.x12 import read_835
from tests.support.era_mix import era_stream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--providers", type=int, default=200)
    args = parser.parse_args()

    # the same compact JSON the ingest agent puts on `remittances`
    events = [
        r.model_dump_json(exclude_defaults=True).encode()
        for name, data in era_stream(args.claims, providers=args.providers)
        for r in read_835(data, file=name).remittances
    ]
    gc.collect()
    tracemalloc.start()
    ledgers: dict[str, ProviderLedger] = {}
    claims = 0
    for event in events:
        facts, document = facts_from_json(event)
        provider_id = document["payee"]["id"]
        apply_remittance(ledgers.setdefault(provider_id, ProviderLedger(provider_id=provider_id)), facts)
        claims += len(facts.claims)
    del events
    gc.collect()
    live, _ = tracemalloc.get_traced_memory()
    print(f"{claims:,} claims in {len(ledgers)} ledgers: {live / claims:,.0f} bytes of live objects per claim")
    for stat in tracemalloc.take_snapshot().statistics("lineno")[:8]:
        print(f"  {stat.size / claims:6,.0f} B/claim  {stat.traceback[0]}")
    tracemalloc.stop()

    store = {key: value for ledger in ledgers.values() for key, value in records_to_write(ledger)}
    print(f"stored records: {sum(len(v) for v in store.values()) / claims:,.0f} bytes per claim")
    del ledgers
    gc.collect()
    tracemalloc.start()
    restored = [ledger_from_records(value, store.get) for key, value in store.items() if not is_facts_key(key)]
    for ledger in restored:
        ledger.state()
    gc.collect()
    live, _ = tracemalloc.get_traced_memory()
    print(f"restored from them: {live / claims:,.0f} bytes of live objects per claim")


if __name__ == "__main__":
    main()
