"""A realistic stream of synthetic ERAs for the pipeline benchmark.

`era_stream(claims, providers, seed)` yields (file name, 835 bytes) in time order:
remittances of 1-200 claims from a few payers to many providers; later
payments reverse earlier claims (with corrections, in the same or a later
remittance), PLB WO recoveries naming earlier claims, FB carries and their
settlement, L6 interest; a few percent of files are re-sent in a new envelope
(duplicates).  Every ST/SE balances to the cent.  Placeholder names only.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass

PAYERS = ("1111111111", "1222222222", "1333333333")


def money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


@dataclass
class PaidClaim:
    pcn: str
    icn: str
    charge: int
    paid: int


def claim_segments(pcn: str, status: str, charge: int, paid: int, icn: str, f8: str | None = None) -> list[str]:
    adjust = charge - paid
    segments = [
        f"CLP*{pcn}*{status}*{money(charge)}*{money(paid)}**12*{icn}*11*1",
        "NM1*QC*1*DOE*JANE****MI*M0000001",
    ]
    if f8:
        segments.append(f"REF*F8*{f8}")
    segments += [
        f"SVC*HC:99213*{money(charge)}*{money(paid)}**1",
        "DTM*472*20260101",
    ]
    if adjust:
        segments.append(f"CAS*CO*45*{money(adjust)}")
    return segments


def transaction(
    control: int,
    payer: str,
    provider: str,
    trace: str,
    day: dt.date,
    claims: list[str],
    plb: list[tuple[str, int]],
    paid: int,
) -> list[str]:
    handling, method = ("I", "ACH") if paid > 0 else ("H", "NON")
    header = [
        f"ST*835*{control:04d}",
        f"BPR*{handling}*{money(paid)}*C*{method}*CCP*01*999999992*DA*123456*1512345678**01*999988880*DA*98765*"
        f"{day:%Y%m%d}",
        f"TRN*1*{trace}*1{payer[1:]}",
        f"DTM*405*{day:%Y%m%d}",
        f"N1*PR*PAYER {payer[-1]}",
        f"N1*PE*PROVIDER*XX*{provider}",
        "LX*1",
    ]
    body = header + claims
    if plb:
        body.append(f"PLB*{provider}*20261231*" + "*".join(f"{code}*{money(cents)}" for code, cents in plb))
    return [*body, f"SE*{len(body) + 1}*{control:04d}"]


def envelope(sets: list[list[str]], control: int, day: dt.date) -> bytes:
    lines = [
        f"ISA*00*          *00*          *ZZ*BENCHPAYER     *ZZ*BENCHPROV      *{day:%y%m%d}*1200*^*00501*"
        f"{control:09d}*0*P*:",
        f"GS*HP*BENCHPAYER*BENCHPROV*{day:%Y%m%d}*1200*{control}*X*005010X221A1",
    ]
    for st in sets:
        lines.extend(st)
    lines += [f"GE*{len(sets)}*{control}", f"IEA*1*{control:09d}"]
    return ("~\n".join(lines) + "~\n").encode()


def era_stream(claims: int, providers: int = 200, seed: int = 7) -> Iterator[tuple[str, bytes]]:
    rng = random.Random(seed)
    provider_ids = [f"{1_500_000_000 + i}" for i in range(providers)]
    paid: dict[tuple[str, str], list[PaidClaim]] = {}
    day = dt.date(2026, 1, 1)
    emitted = 0
    file_no = 0
    last_file: bytes | None = None
    while emitted < claims:
        file_no += 1
        day += dt.timedelta(days=rng.random() < 0.2)
        if last_file is not None and rng.random() < 0.03:  # a clearinghouse re-send, new envelope
            resent = last_file.replace(b"*00501*", b"*00501*9", 1)
            yield f"{file_no:07d}-resend.835", resent
            continue
        sets = []
        for control in range(1, rng.randint(1, 3) + 1):
            payer, provider = rng.choice(PAYERS), rng.choice(provider_ids)
            history = paid.setdefault((payer, provider), [])
            count = min(rng.randint(1, 200), max(1, claims - emitted))
            segments: list[str] = []
            total = 0
            for n in range(count):
                if history and rng.random() < 0.04:  # reverse an earlier payment, correct it in the same 835
                    old = history.pop(rng.randrange(len(history)))
                    segments += claim_segments(old.pcn, "22", -old.charge, -old.paid, old.icn)
                    new_paid = max(0, old.paid - rng.randint(0, old.paid // 2 + 1))
                    segments += claim_segments(old.pcn, "1", old.charge, new_paid, old.icn + "C", f8=old.icn)
                    total += new_paid - old.paid
                    history.append(PaidClaim(old.pcn, old.icn + "C", old.charge, new_paid))
                else:
                    charge = rng.randint(5_000, 120_000)
                    cents = charge - rng.randint(0, charge // 3)
                    pcn = f"P{file_no:07d}{control}{n:03d}"
                    icn = f"I{file_no:07d}{control}{n:03d}"
                    segments += claim_segments(pcn, "1", charge, cents, icn)
                    total += cents
                    history.append(PaidClaim(pcn, icn, charge, cents))
            plb: list[tuple[str, int]] = []
            if history and rng.random() < 0.05:
                target = rng.choice(history)
                amount = min(target.paid // 4 + 1, max(total - 1, 0))
                if amount > 0:
                    plb.append((f"WO:{target.icn}", amount))
                    total -= amount
            if rng.random() < 0.1:
                interest = rng.randint(1, 500)
                plb.append(("L6", -interest))
                total += interest
            trace = f"T{file_no:07d}{control}"
            if total < 0:  # takebacks exceed payments: carry the rest forward (rules §4 FB)
                plb.append((f"FB:{trace}", total))
                total = 0
            sets.append(transaction(control, payer, provider, trace, day, segments, plb, total))
            emitted += count
        last_file = envelope(sets, file_no, day)
        yield f"{file_no:07d}.835", last_file
