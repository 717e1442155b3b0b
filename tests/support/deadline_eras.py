"""835s whose deadlines fall around a given day (rules §11, §13), for the pages' browser tests.

Deadlines are counted in calendar time, so a test that asks what is "due in 7 days" needs takebacks whose clocks
are near today: these files are written for a `today`, each dated some days before it. A Medicare payer (claims
with CLP06 = MB, so recognised without a payer profile) reverses three claims at different ages and takes one
claim back twice (a reversal, then a WO naming it); a payer of unknown kind reverses one claim (no deadline).
Every file balances: BPR02 = sum of CLP04 - sum of PLB04.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

PROVIDER = "1000000996"  # a valid NPI (Luhn over 80840 + the first nine digits)
PROVIDER_NAME = "DEADLINE CLINIC"
MEDICARE = ("1620000001", "MEDICARE JURISDICTION L")
UNKNOWN = ("1330000002", "ACME HEALTH")


@dataclass(frozen=True)
class Claim:
    pcn: str
    paid: Decimal  # negative for a reversal
    icn: str
    filing: str  # CLP06
    status: str = "1"


@dataclass(frozen=True)
class Era:
    days_before: int
    payer: tuple[str, str]
    trace: str
    claims: tuple[Claim, ...]
    plb: tuple[tuple[str, str, Decimal], ...] = ()  # (code, reference, amount)


def _claim(pcn: str, paid: str, icn: str, filing: str = "MB") -> Claim:
    amount = Decimal(paid)
    return Claim(pcn, amount, icn, filing, "22" if amount < 0 else "1")


ERAS = (
    Era(
        70,
        MEDICARE,
        "DL070",
        (_claim("A", "100", "ICNA"), _claim("B", "200", "ICNB"), _claim("C", "50", "ICNC"), _claim("D", "80", "ICND")),
    ),
    Era(50, UNKNOWN, "DL050", (_claim("U", "120", "ICNU", "ZZ"),)),
    # C: reversed, then a WO takes it again: recovered twice; its first clocks have passed (overdue)
    Era(40, MEDICARE, "DL040", (_claim("C", "-50", "ICNC"), _claim("E", "300", "ICNE"))),
    Era(30, MEDICARE, "DL030", (_claim("F", "100", "ICNF"),), (("WO", "ICNC", Decimal(50)),)),
    # A: reversed in a payment too small for it, the rest carried (FB): open, day 30 falls within the week
    Era(
        25, MEDICARE, "DL025", (_claim("A", "-100", "ICNA"), _claim("G", "40", "ICNG")), (("FB", "ICNA", Decimal(-60)),)
    ),
    Era(20, UNKNOWN, "DL020", (_claim("U", "-120", "ICNU", "ZZ"), _claim("V", "200", "ICNV", "ZZ"))),
    Era(5, MEDICARE, "DL005", (_claim("B", "-200", "ICNB"), _claim("H", "500", "ICNH"))),
    # D: reversed and carried whole: open, its first clock (day 15) more than a week away
    Era(3, MEDICARE, "DL003", (_claim("D", "-80", "ICND"),), (("FB", "ICND", Decimal(-80)),)),
)


def era_text(era: Era, today: dt.date, control: int) -> str:
    day = today - dt.timedelta(days=era.days_before)
    ymd, short = day.strftime("%Y%m%d"), day.strftime("%y%m%d")
    payer_id, payer_name = era.payer
    total = sum((c.paid for c in era.claims), Decimal(0)) - sum((p[2] for p in era.plb), Decimal(0))
    assert total >= 0, "a payment, not a debit"
    bpr = (
        f"BPR*I*{total}*C*ACH*CCP*01*011000015*DA*123456789*{payer_id}**01*021000021*DA*987654321*{ymd}"
        if total
        else f"BPR*H*0*C*NON************{ymd}"  # nothing moved: the reversal took it all
    )
    body = [
        "ST*835*0001*005010X221A1",
        bpr,
        f"TRN*1*{era.trace}*{payer_id}",
        f"DTM*405*{ymd}",
        f"N1*PR*{payer_name}",
        "N3*1 PAYER WAY",
        "N4*ANYTOWN*PA*17111",
        f"N1*PE*{PROVIDER_NAME}*XX*{PROVIDER}",
        "N3*2 CLINIC ST",
        "N4*ANYTOWN*PA*17112",
        "LX*1",
    ]
    for c in era.claims:
        charge = abs(c.paid) + 20
        sign = "-" if c.paid < 0 else ""
        body.append(f"CLP*{c.pcn}*{c.status}*{sign}{charge}*{c.paid}**{c.filing}*{c.icn}")
        body.append(f"CAS*CO*45*{sign}20")
    for code, reference, amount in era.plb:
        body.append(f"PLB*{PROVIDER}*{today.year}1231*{code}:{reference}*{amount}")
    body.append(f"SE*{len(body) + 1}*0001")
    envelope = [
        f"ISA*00*          *00*          *ZZ*DLPAYER        *ZZ*DLPROV         *{short}*1200*^*00501*"
        f"{control:09d}*0*T*:",
        f"GS*HP*DLPAYER*DLPROV*{ymd}*1200*{control}*X*005010X221A1",
        *body,
        f"GE*1*{control}",
        f"IEA*1*{control:09d}",
    ]
    return "~\n".join(envelope) + "~\n"


def write_eras(folder: Path, today: dt.date) -> list[Path]:
    """The files, oldest first (their names sort in that order)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for position, era in enumerate(ERAS):
        path = folder / f"{position:02d}_{era.trace}.835"
        path.write_text(era_text(era, today, 700 + position))
        paths.append(path)
    return paths
