"""Reader throughput on a large synthetic 835, and the reader's peak memory per input byte on it and on hostile
files: ``python -m bench.reader_bench [--claims N] [--no-memory]``."""

from __future__ import annotations

import argparse
import time
import tracemalloc

from streams.domain.x12 import read_835
from tests.support.synthetic import synthetic_835


def hostile_835(segment: bytes, count: int) -> bytes:
    """The review's hostile shape: one claim, then ``count`` copies of one tiny segment in the same set."""
    data = synthetic_835(1)
    se = data.index(b"SE*")
    return data[:se] + segment * count + data[se:]


def peak_per_byte(data: bytes) -> tuple[float, str]:
    """Peak bytes Python allocates while reading ``data`` (tracemalloc), per input byte; and what became of it."""
    tracemalloc.start()
    try:
        result = read_835(data, file="bench.835")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    outcome = ", ".join(d.error_code for d in result.dead_letters) or f"{len(result.remittances)} remittances"
    return peak / len(data), outcome


def memory_report(normal: bytes) -> None:
    inputs = [
        ("synthetic (corpus-like)", normal),
        ("1.2M CAS*CO*45*0 (review)", hostile_835(b"CAS*CO*45*0~", 1_200_000)),
        ("3M LX*1 (review)", hostile_835(b"LX*1~", 3_000_000)),
        ("290k CAS, under the caps", hostile_835(b"CAS*CO*45*0~", 290_000)),
        ("990k LX, under the caps", hostile_835(b"LX*1~", 990_000)),
    ]
    for name, data in inputs:
        per_byte, outcome = peak_per_byte(data)
        print(
            f"memory: {name:<26} {len(data) / 2**20:6.1f} MiB in, peak {per_byte * len(data) / 2**20:6.0f} MiB "
            f"= {per_byte:5.1f} bytes per input byte -> {outcome}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--claims", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measures (tracemalloc)")
    args = parser.parse_args()
    data = synthetic_835(args.claims, args.seed)
    best = float("inf")
    claims = 0
    for _ in range(args.runs):
        result = None  # free the previous result outside the timed region
        started = time.perf_counter()
        result = read_835(data, file="synthetic.835")
        best = min(best, time.perf_counter() - started)
        claims = sum(len(remittance.claims) for remittance in result.remittances)
        if result.dead_letters:
            raise SystemExit(f"unexpected dead letters: {[d.message for d in result.dead_letters[:3]]}")
    print(f"reader: {claims} claims in {best:.3f} s = {claims / best:,.0f} claims/s")
    result = None
    if not args.no_memory:
        memory_report(data)


if __name__ == "__main__":
    main()
