"""Human-readable summary of pipeline results (the demo's output)."""

from __future__ import annotations

import sys
from typing import TextIO

from streams.kafka_io import PipelineResults


def print_report(results: PipelineResults, out: TextIO = sys.stdout) -> None:
    takebacks = sorted(results.takebacks.values(), key=lambda t: (t.provider_id, t.kind, t.event_id))
    out.write(f"\nTakebacks found: {len(takebacks)}\n")
    out.write(f"{'provider':<14} {'kind':<11} {'method':<7} {'amount':>10}  {'claim':<22} {'reason':<26} codes\n")
    for t in takebacks:
        claim = t.claim_id or (f"PLB {t.plb_reason_code} {t.plb_reference or ''}".strip())
        codes = ",".join(t.reason_codes[:4])
        out.write(
            f"{t.provider_id:<14} {t.kind:<11} {t.method:<7} {t.amount:>10}  {claim[:22]:<22} "
            f"{t.reason_category:<26} {codes}\n"
        )
    out.write(f"\nNet cash per provider: {len(results.net_cash)}\n")
    header = ("provider", "net_cash", "claims", "reversed", "recouped", "fwd_bal", "refunds", "other", "not_moved")
    out.write("{:<14} {:>11} {:>11} {:>10} {:>10} {:>9} {:>8} {:>9} {:>9}\n".format(*header))
    for row in sorted(results.net_cash.values(), key=lambda r: r.provider_id):
        out.write(
            f"{row.provider_id:<14} {row.net_cash:>11} {row.claim_payments:>11} {row.reversed:>10} "
            f"{row.recouped:>10} {row.forward_balance:>9} {row.refunds:>8} {row.other_adjustments:>9} "
            f"{row.not_moved:>9}\n"
        )
    by_code: dict[str, int] = {}
    for dead in results.dead_letters:
        by_code[dead.error_code] = by_code.get(dead.error_code, 0) + 1
    summary = ", ".join(f"{code} {n}" for code, n in sorted(by_code.items())) or "none"
    out.write(f"\nDead letters: {len(results.dead_letters)} ({summary})\n")
    out.flush()
