"""What the pages show of deposits (rules §10): a provider's money per ERAs against money per bank, its open items
by age, its reassociation records with a sentence a billing person can act on, and the deposits no ERA names.

Plain functions over the gathered reassociation records (streams/deposit_views.py gathers them from every
worker); the totals are the domain's (streams/domain/bank/position.py), so the pages and `GET /deposits` agree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from schemas import ZERO, DepositPosition, PayerDeposits, Reassociation, ReassociationStatus
from streams.domain.bank.position import feed_connected, position
from streams.domain.cash import AGE_BUCKETS
from streams.pages.filters import BadFilter, Paging
from streams.pages.queries import AGE_BUCKETS as SHOWN_AGE_BUCKETS

Status = ReassociationStatus
STATUS_CHOICES = [s.value for s in Status]
STATUS_WORDS = {
    "matched": "matched",
    "amount_mismatch": "amount differs",
    "era_without_deposit": "money missing",
    "deposit_without_era": "no ERA",
    "duplicate_deposit": "paid twice",
    "awaiting_deposit": "money not due yet",
    "awaiting_era": "ERA not due yet",
    "deposit_returned": "returned by the bank",
}
# The domain's age buckets (rules §8a) as the takeback tables show them: "0–30 days" ... "over 120 days".
AGE_LABELS = {name: f"{shown} days" for (name, _, _), (shown, _, _) in zip(AGE_BUCKETS, SHOWN_AGE_BUCKETS, strict=True)}


@dataclass(frozen=True)
class DepositFilter:
    """The deposits list's filter: one status, or all. Named apart from the worklist's `status` on the same page."""

    status: str | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> DepositFilter:
        value = query.get("deposit_status") or None
        if value is not None and value not in STATUS_CHOICES:
            raise BadFilter("deposit_status", f"'{value}' is not one of {', '.join(STATUS_CHOICES)}")
        return cls(value)

    def as_query(self) -> dict[str, str]:
        return {"deposit_status": self.status} if self.status else {}


def deposit_paging(query: Mapping[str, str]) -> Paging:
    """The deposits list pages on its own (deposits_offset, deposits_limit), apart from the takeback worklist."""
    return Paging.parse({k.removeprefix("deposits_"): v for k, v in query.items() if k.startswith("deposits_")})


def dollars(amount: Decimal | None) -> str:
    return "$" + f"{abs(amount or ZERO):,.2f}"


def day(value: dt.date | None) -> str:
    return value.isoformat() if value else "an unknown date"


NO_FEED = "no bank feed connected"


def sentence(record: Reassociation, connected: bool = True) -> str:
    """What the record means for a billing person, and what to do about it."""
    if not connected and record.status == Status.era_without_deposit:
        return (
            f"The ERA of {day(record.effective_date)} says {dollars(record.era_amount)} was sent. No bank feed is "
            "connected (no bank file has brought a deposit yet), so Takeback cannot tell whether it arrived: "
            "send the bank's files to check."
        )
    bank, era, gap = dollars(record.deposit_amount), dollars(record.era_amount), dollars(record.difference)
    status = record.status
    if status == Status.matched:
        return f"The bank received {bank} on {day(record.deposit_date)}, as the ERA said: nothing to do."
    if status == Status.amount_mismatch:
        if (record.difference or ZERO) < 0:
            said = f"The bank shows {bank} but the ERA paid {era}: {gap} less arrived."
        else:
            said = f"The bank shows {bank} but the ERA paid {era}: {gap} more arrived."
        if record.explained_by:
            return said.removesuffix(".") + "; the difference is the takebacks below."
        return said + " No takeback of this ERA explains it: ask the payer how the payment was made up."
    if status == Status.era_without_deposit and (record.era_amount or ZERO) < 0:
        return (
            f"The ERA of {day(record.effective_date)} says the payer takes {era} from your account (a debit ERA), "
            f"but no bank debit showed by {day(record.due_date)}: ask the bank whether it was debited."
        )
    if status == Status.era_without_deposit:
        return (
            f"The ERA of {day(record.effective_date)} says {era} was sent, but no deposit arrived by "
            f"{day(record.due_date)}: ask the payer for the EFT trace or check, and the bank whether it came in."
        )
    if status == Status.deposit_without_era:
        return (
            f"The bank received {bank} on {day(record.deposit_date)} (trace {record.trace_number or 'none'}) but no "
            "ERA came for it: ask the payer for the remittance before posting it."
        )
    if status == Status.duplicate_deposit:
        return (
            f"The bank received {bank} a second time for a payment already deposited: ask the bank whether it "
            "was credited twice, and return it if so."
        )
    if status == Status.deposit_returned:
        return (
            f"The bank received {bank} on {day(record.deposit_date)} and returned it "
            f"({record.return_reason or 'no reason code'}): the ERA is unpaid again; ask the payer to send it again "
            "and give them the right bank account if that was the reason."
        )
    if status == Status.awaiting_deposit:
        return f"The ERA says {era} is on its way; the money is not late until {day(record.due_date)}."
    return f"The bank received {bank}; its ERA is not late until {day(record.due_date)}."


@dataclass
class Explainer:
    """A takeback that explains an amount mismatch, and the provider whose page shows it."""

    event_id: str
    provider_id: str | None


@dataclass
class DepositLine:
    """One reassociation record as the pages and their downloads show it."""

    record: Reassociation
    date: dt.date | None  # the deposit's date, else the ERA's payment date
    sentence: str
    explainers: list[Explainer] = field(default_factory=list)
    status_words: str = ""  # the status as the page says it ("no bank feed connected" while there is none)

    @property
    def explained_by_text(self) -> str:
        return " ".join(self.record.explained_by)


def deposit_lines(
    records: Iterable[Reassociation],
    takeback_providers: Mapping[str, str],
    wanted: DepositFilter | None = None,
    connected: bool = True,
) -> list[DepositLine]:
    """The records (of the status asked for), newest first, each with its sentence and explaining takebacks.
    `connected`: whether any bank file has brought a deposit (position.feed_connected over every record)."""
    kept = [r for r in records if wanted is None or wanted.status is None or r.status == wanted.status]
    lines = []
    for r in kept:
        fed = connected
        no_feed = not fed and r.status == Status.era_without_deposit
        lines.append(
            DepositLine(
                record=r,
                date=r.deposit_date or r.effective_date,
                sentence=sentence(r, fed),
                explainers=[Explainer(i, takeback_providers.get(i, r.provider_id)) for i in r.explained_by],
                status_words=NO_FEED if no_feed else STATUS_WORDS[r.status],
            )
        )
    lines.sort(key=lambda line: (line.date or dt.date.min, line.record.event_id), reverse=True)
    return lines


def of_provider(records: Iterable[Reassociation], provider_id: str | None) -> list[Reassociation]:
    return [r for r in records if r.provider_id == provider_id]


@dataclass
class PayerMoney:
    """Money per ERAs against money per bank with one payer (or 'all payers')."""

    payer_id: str
    era_amount: Decimal
    deposit_amount: Decimal
    difference: Decimal  # bank - ERAs
    missing_amount: Decimal
    unposted_amount: Decimal
    mismatch_amount: Decimal
    duplicate_amount: Decimal
    open_items: int


def _money(payer_id: str, totals: DepositPosition | PayerDeposits) -> PayerMoney:
    counts = totals.counts
    open_items = sum(counts.get(s, 0) for s in ("era_without_deposit", "deposit_without_era", "amount_mismatch"))
    return PayerMoney(
        payer_id=payer_id,
        era_amount=totals.era_amount,
        deposit_amount=totals.deposit_amount,
        difference=totals.deposit_amount - totals.era_amount,
        missing_amount=totals.missing_amount,
        unposted_amount=totals.unposted_amount,
        mismatch_amount=totals.mismatch_amount,
        duplicate_amount=totals.duplicate_amount,
        open_items=open_items + counts.get("duplicate_deposit", 0),
    )


def payer_money(row: DepositPosition) -> list[PayerMoney]:
    """One line per payer, then the provider's total ('all payers'); empty when the provider has no records."""
    if not row.by_payer:
        return []
    lines = [_money(p.payer_id or "no payer (no TRN)", p) for p in row.by_payer]
    return [*lines, _money("all payers", row)]


@dataclass
class OpenAge:
    age: str
    items: int
    amount: Decimal


def open_by_age(row: DepositPosition) -> list[OpenAge]:
    """Every age bucket (empty ones too, so the table reads the same each time), then the total."""
    lines = [
        OpenAge(AGE_LABELS[name], row.open_items_by_age.get(name, 0), row.open_amount_by_age.get(name, ZERO))
        for name, _, _ in AGE_BUCKETS
    ]
    return [*lines, OpenAge("total", sum(x.items for x in lines), sum((x.amount for x in lines), ZERO))]


def provider_position(records: Sequence[Reassociation], provider_id: str, as_of: dt.date | None) -> DepositPosition:
    """One provider's position; `records` are every provider's (they say whether a bank feed is connected)."""
    return position(provider_id, of_provider(records, provider_id), as_of, feed_connected(records))


@dataclass
class NoEraLine:
    """The overview's short table: deposits no ERA names yet, by status."""

    status: str
    count: int
    total: Decimal
    oldest: dt.date | None


def no_era_summary(records: Iterable[Reassociation]) -> list[NoEraLine]:
    """Money no provider can be given yet: overdue (deposit_without_era) first, then not yet due."""
    lines = []
    for status in (Status.deposit_without_era, Status.awaiting_era):
        found = [r for r in records if r.provider_id is None and r.status == status]
        if found:
            dates = [r.deposit_date for r in found if r.deposit_date]
            total = sum((r.deposit_amount or ZERO for r in found), ZERO)
            lines.append(NoEraLine(STATUS_WORDS[status], len(found), total, min(dates, default=None)))
    return lines


def without_provider(records: Iterable[Reassociation]) -> list[Reassociation]:
    return [r for r in records if r.provider_id is None]
