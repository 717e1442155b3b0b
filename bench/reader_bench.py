"""Reader throughput on a large synthetic 835: ``python -m bench.reader_bench [--claims N]``."""

from __future__ import annotations

import argparse
import time

from streams.domain.x12 import read_835
from tests.support.synthetic import synthetic_835


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--claims", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=3)
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


if __name__ == "__main__":
    main()
