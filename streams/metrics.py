"""Prometheus metrics of a worker (served on GET /metrics).

Naming follows Prometheus practice: `takeback_` prefix, base units (dollars,
seconds), `_total` for counters.  No label ever carries patient data; the
provider and payer label sets are capped (TAKEBACK_METRICS_MAX_PROVIDERS /
_PAYERS) so a clearinghouse with 100k providers cannot blow up Prometheus:
values past the cap are summed under the label value "_other".
"""

from __future__ import annotations

import collections
import datetime as dt
import heapq
import time
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from schemas import ZERO, DeadLetter, NetCashRow, Reassociation, Takeback
from streams.domain.bank.position import counts_as_open, feed_connected, open_amount

OVERFLOW = "_other"
OPEN_KINDS = {
    "era_without_deposit": "missing",
    "deposit_without_era": "unposted",
    "amount_mismatch": "mismatch",
    "duplicate_deposit": "duplicate",
}

__all__ = ["CONTENT_TYPE_LATEST", "OVERFLOW", "LabelCap", "WorkerMetrics"]


class LabelCap:
    """Admits the first `limit` distinct values of a label; later ones become OVERFLOW."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._admitted: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._admitted:
            return value
        if len(self._admitted) < self.limit:
            self._admitted.add(value)
            return value
        return OVERFLOW


class WorkerMetrics:
    def __init__(self, max_providers: int = 500, max_payers: int = 100) -> None:
        self.registry = CollectorRegistry()
        self.provider_label = LabelCap(max_providers)
        self.payer_label = LabelCap(max_payers)
        r = self.registry
        self.inputs = Counter("takeback_inputs", "Inputs (835 files or JSON events) ingested.", registry=r)
        self.notices = Counter(
            "takeback_reader_notices",
            "What the reader skipped or repaired in inputs (e.g. a non-835 set), by notice code.",
            ["code"],
            registry=r,
        )
        self.remittances = Counter("takeback_remittances", "Remittances handled, by outcome.", ["outcome"], registry=r)
        self.claims = Counter("takeback_claims_processed", "Claim payments (CLP) in applied remittances.", registry=r)
        self.rekeyed = Counter(
            "takeback_remittances_rekeyed",
            "Remittances sent on to their ledger's partition (remittances.rekeyed), not matched where they were read: "
            "their input was keyed by something other than their ledger key.",
            registry=r,
        )
        labels = ["kind", "method", "reason_category", "payer"]
        self.takebacks = Counter("takeback_takebacks", "Takebacks found (first revision).", labels, registry=r)
        self.takeback_amount = Counter(
            "takeback_takeback_amount_dollars", "Dollars taken back (first revision).", labels, registry=r
        )
        self.net_cash = Gauge(
            "takeback_net_cash_dollars", "Net cash per provider (rules §8).", ["provider"], registry=r
        )
        self.forward_balance = Gauge(
            "takeback_forward_balance_outstanding_dollars",
            "Forward balance the provider still owes.",
            ["provider"],
            registry=r,
        )
        self.oldest_forward_balance = Gauge(
            "takeback_forward_balance_oldest_open_timestamp_seconds",
            "Unix time of the provider's oldest open forward balance (0 when none).",
            ["provider"],
            registry=r,
        )
        self.dead_letters = Counter(
            "takeback_dead_letters", "Inputs rejected, by stage and error code.", ["stage", "error_code"], registry=r
        )
        self.latency = Histogram(
            "takeback_processing_latency_seconds",
            "Time from an input's publication to its takebacks and cash row being emitted.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.lag = Gauge(
            "takeback_consumer_lag_messages",
            "Messages not yet read, per partition.",
            ["topic", "partition"],
            registry=r,
        )
        self.deposits = Counter(
            "takeback_deposits",
            "Reassociation records (rules §10) reaching an outcome: matched, amount_mismatch, era_without_deposit, "
            "deposit_without_era, duplicate_deposit, awaiting_deposit, awaiting_era, deposit_returned.",
            ["outcome"],
            registry=r,
        )
        self.unmatched = Gauge(
            "takeback_deposits_unmatched_dollars",
            "Open reassociation money this worker holds: missing (ERA, no deposit), unposted (deposit, no ERA), "
            "mismatch (sum of |deposit - ERA|), duplicate.",
            ["kind"],
            registry=r,
        )
        self.oldest_open_item = Gauge(
            "takeback_deposits_oldest_open_item_timestamp_seconds",
            "Unix time (midnight UTC) of the date the oldest open reassociation item started (0 when none).",
            registry=r,
        )
        self._overflow_rows: dict[str, NetCashRow] = {}
        self._reassociations: dict[str, Reassociation] = {}  # event_id -> latest record this worker published
        self._fed = False  # a bank file has brought a deposit, as far as this worker has seen (rules §10)
        self._unmatched = {kind: ZERO for kind in OPEN_KINDS.values()}
        self._open_since = OpenDates()  # open items by the date they started

    # ---- recording

    def ingested(self, dead_letters: list[DeadLetter], notice_counts: Mapping[str, int] | None = None) -> None:
        """One input read; `notice_counts`: the reader's notices by code (streams/reader_notices.py)."""
        self.inputs.inc()
        for dead in dead_letters:
            self.dead_letter(dead)
        for code, count in (notice_counts or {}).items():
            self.notices.labels(code).inc(count)

    def reassociations(self, records: list[Reassociation]) -> None:
        """Records the reassociate agent published: count each new outcome, update the open amounts."""
        newly_fed = not self._fed and feed_connected(records)
        if newly_fed:  # ERAs without deposit become missing money: count the open amounts again
            self._fed = True
            self._recount_open()
        changed = newly_fed
        for record in records:
            previous = self._reassociations.get(record.event_id)
            if previous is not None and previous.revision >= record.revision:
                continue
            if previous is None or previous.status != record.status:
                self.deposits.labels(str(record.status)).inc()
            # kept as running totals: summing every record this worker holds cost O(history) per batch
            self._count_open(previous, -1)
            self._count_open(record, 1)
            self._reassociations[record.event_id] = record
            changed = True
        if changed:
            self._show_unmatched()

    def _recount_open(self) -> None:
        self._unmatched = {kind: ZERO for kind in OPEN_KINDS.values()}
        self._open_since = OpenDates()
        for record in self._reassociations.values():
            self._count_open(record, 1)

    def _count_open(self, record: Reassociation | None, sign: int) -> None:
        kind = OPEN_KINDS.get(str(record.status)) if record is not None else None
        if record is None or kind is None:
            return
        if not counts_as_open(record, self._fed):  # no bank feed connected: not missing money, no alert
            return
        self._unmatched[kind] += sign * open_amount(record)
        since = record.effective_date or record.deposit_date
        if since is not None:
            self._open_since.count(since, sign)

    def _show_unmatched(self) -> None:
        for kind, amount in self._unmatched.items():
            self.unmatched.labels(kind).set(float(amount))
        oldest = self._open_since.oldest()
        midnight = dt.datetime(oldest.year, oldest.month, oldest.day, tzinfo=dt.UTC).timestamp() if oldest else 0
        self.oldest_open_item.set(midnight)

    def dead_letter(self, dead: DeadLetter) -> None:
        self.dead_letters.labels(dead.stage, dead.error_code).inc()

    def rejected(self, dead: DeadLetter) -> None:
        """A remittance event the match agent could not apply."""
        self.dead_letter(dead)
        self.remittances.labels("dead_letter").inc()

    def remittance(self, claims: int, published_at: float | None, outcome: str, takebacks: list[Takeback]) -> None:
        self.remittances.labels(outcome).inc()
        if outcome != "applied":
            return
        self.claims.inc(claims)
        for takeback in takebacks:
            if takeback.revision != 1 or takeback.withdrawn:
                continue  # counted once, when first found
            labels = (takeback.kind, takeback.method, takeback.reason_category, self.payer_label(takeback.payer_id))
            self.takebacks.labels(*labels).inc()
            self.takeback_amount.labels(*labels).inc(float(takeback.amount))
        if published_at:
            self.latency.observe(max(0.0, time.time() - published_at))

    def cash_row(self, row: NetCashRow) -> None:
        label = self.provider_label(row.provider_id)
        if label == OVERFLOW:
            self._overflow_rows[row.provider_id] = row
            rows = self._overflow_rows.values()
            net = sum((r.net_cash for r in rows), ZERO)
            forward = sum((r.forward_balance for r in rows), ZERO)
            oldest = min((r.oldest_open_forward_balance for r in rows if r.oldest_open_forward_balance), default=None)
        else:
            net, forward, oldest = row.net_cash, row.forward_balance, row.oldest_open_forward_balance
        self.net_cash.labels(label).set(float(net))
        self.forward_balance.labels(label).set(float(forward))
        stamp = time.mktime(oldest.timetuple()) if oldest else 0.0
        self.oldest_forward_balance.labels(label).set(stamp)

    def forget_providers(self) -> None:
        """After a rebalance another worker may own these providers: drop their gauges (they come back on use)."""
        for gauge in (self.net_cash, self.forward_balance, self.oldest_forward_balance):
            gauge.clear()
        self._overflow_rows.clear()

    def set_lag(self, lags: dict[tuple[str, int], int]) -> None:
        self.lag.clear()
        for (topic, partition), lag in lags.items():
            self.lag.labels(topic, str(partition)).set(lag)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class OpenDates:
    """How many open items started on each date, and the oldest such date.

    The oldest is read after every reassociation batch; a min over all the dates cost O(days of history) each time.
    A heap keeps it O(log days): a date is pushed when its count leaves 0, and dropped from the top once it is 0.
    """

    def __init__(self) -> None:
        self._counts: collections.Counter[dt.date] = collections.Counter()
        self._heap: list[dt.date] = []

    def count(self, day: dt.date, change: int) -> None:
        if not self._counts[day]:
            heapq.heappush(self._heap, day)
        self._counts[day] += change
        if not self._counts[day]:
            del self._counts[day]

    def oldest(self) -> dt.date | None:
        while self._heap and not self._counts.get(self._heap[0]):
            heapq.heappop(self._heap)
        return self._heap[0] if self._heap else None
