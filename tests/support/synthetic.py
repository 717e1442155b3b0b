"""A large synthetic 5010 835 for benchmarks: realistic shape, balanced to the cent.

``synthetic_835(claims, seed)`` returns one interchange with about one ST/SE per 200 claims.
A claim is CLP, NM1*QC, then per service line SVC, DTM*472, CAS*CO (plus CAS*PR when the
patient owes), REF*6R, AMT*B6; one claim in ten has two lines, one in ten is denied (CAS CO 50).
About 2% are reversals (CLP02=22, all amounts negated) followed by their correction (REF*F8);
one set in five carries a PLB (WO recoupment, L6 interest, sometimes FB forward balance).

Every set balances (BPR02 = sum CLP04 - sum PLB04) and every claim and line balances
(charge - payment = sum CAS), so the reader accepts the whole file with no dead letter.
Amounts are computed in integer cents so nothing is lost to rounding.  Names and ids are
placeholders; the same (claims, seed) always gives the same bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

CLAIMS_PER_SET = 200
PARTIES = ["ZZ", "SYNTHPAYER".ljust(15), "ZZ", "SYNTHPROV".ljust(15)]
CONTROL = ["261101", "1200", "^", "00501", "000000001", "0", "T", ":"]
ISA = "*".join(["ISA", "00", " " * 10, "00", " " * 10, *PARTIES, *CONTROL])


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


@dataclass
class _Line:
    procedure: str
    charge: int
    paid: int
    contractual: int  # CAS CO 45
    patient: int  # CAS PR 2 (coinsurance)

    def negated(self) -> _Line:
        return _Line(self.procedure, -self.charge, -self.paid, -self.contractual, -self.patient)


@dataclass
class _Claim:
    number: int
    status: str
    lines: list[_Line]
    frequency: str = "1"
    original_icn: str | None = None  # REF*F8 on a correction
    denied: bool = False

    @property
    def charge(self) -> int:
        return sum(line.charge for line in self.lines)

    @property
    def paid(self) -> int:
        return sum(line.paid for line in self.lines)

    @property
    def patient(self) -> int:
        return sum(line.patient for line in self.lines)


@dataclass
class _Set:
    control: int
    claims: list[_Claim] = field(default_factory=list)
    plb: list[tuple[str, int]] = field(default_factory=list)  # (PLB03 composite, cents)


def _random_line(rng: random.Random, denied: bool) -> _Line:
    procedure = rng.choice(("99213", "99214", "99203", "97110", "80053", "36415", "93000", "71046"))
    charge = rng.randint(2_000, 150_000)
    if denied:
        return _Line(procedure, charge, 0, charge, 0)
    allowed = charge * rng.randint(45, 95) // 100
    patient = allowed * rng.choice((0, 0, 0, 0, 0, 0, 0, 10, 20, 20)) // 100
    return _Line(procedure, charge, allowed - patient, charge - allowed, patient)


def _corrected(line: _Line) -> _Line:
    """The correction pays 90% of the original; the difference becomes contractual adjustment."""
    paid = line.paid * 9 // 10
    return _Line(line.procedure, line.charge, paid, line.contractual + line.paid - paid, line.patient)


def _claims(rng: random.Random, count: int, first: int) -> list[_Claim]:
    """``count`` claims: mostly paid, some denied, a few reversal + correction pairs."""
    out: list[_Claim] = []
    number = first
    while len(out) < count:
        roll = rng.random()
        lines_count = 1 if rng.random() < 0.9 else 2
        if roll < 0.02 and count - len(out) >= 2:
            original = [_random_line(rng, False) for _ in range(lines_count)]
            out.append(_Claim(number, "22", [line.negated() for line in original], frequency="8"))
            corrected = [_corrected(line) for line in original]
            out.append(_Claim(number + 1, "1", corrected, frequency="7", original_icn=f"ICN{number:010d}"))
            number += 2
            continue
        denied = roll > 0.9
        lines = [_random_line(rng, denied) for _ in range(lines_count)]
        out.append(_Claim(number, "4" if denied else "1", lines, denied=denied))
        number += 1
    return out


def _plb(rng: random.Random, index: int, paid: int) -> list[tuple[str, int]]:
    """Provider adjustments for one set in five, small enough to keep BPR02 positive."""
    if index % 5:
        return []
    recoup = min(paid // 4, rng.randint(1_000, 50_000))
    return [(f"WO:ICN{rng.randint(0, 10**9):010d}", recoup), ("L6", -rng.randint(1, 2_000))] + (
        [(f"FB:FB{rng.randint(0, 10**6):06d}", -rng.randint(100, 5_000))] if rng.random() < 0.5 else []
    )


def _claim_segments(claim: _Claim) -> list[str]:
    n = claim.number
    patient = _money(claim.patient) if claim.patient else ""
    out = [
        f"CLP*PCN{n:010d}*{claim.status}*{_money(claim.charge)}*{_money(claim.paid)}*{patient}*12*ICN{n:010d}*11*{claim.frequency}",
        f"NM1*QC*1*LAST{n}*FIRST{n}****MI*M{n:09d}",
    ]
    if claim.original_icn:
        out.append(f"REF*F8*{claim.original_icn}")
    for j, line in enumerate(claim.lines):
        out.append(f"SVC*HC:{line.procedure}*{_money(line.charge)}*{_money(line.paid)}**1")
        out.append(f"DTM*472*2026{(n % 12) + 1:02d}{(n % 28) + 1:02d}")
        out.append(f"CAS*CO*{50 if claim.denied else 45}*{_money(line.contractual)}")
        if line.patient:
            out.append(f"CAS*PR*2*{_money(line.patient)}")
        out.append(f"REF*6R*L{n}-{j}")
        out.append(f"AMT*B6*{_money(line.paid + line.patient)}")
    return out


def _set_segments(tx: _Set, rng: random.Random) -> list[str]:
    paid = sum(claim.paid for claim in tx.claims)
    total = paid - sum(amount for _, amount in tx.plb)
    payee = 1_000_000_000 + tx.control % 7
    body = [
        f"ST*835*{tx.control:04d}",
        f"BPR*I*{_money(total)}*C*ACH*CCP*01*999999992*DA*123456*1512345678**01*999988880*DA*98765*20261101",
        f"TRN*1*EFT{tx.control:08d}{rng.randint(0, 9999):04d}*1512345678",
        "DTM*405*20261031",
        "N1*PR*SYNTHETIC PAYER",
        "N3*1 PAYER WAY",
        "N4*ANYTOWN*PA*17111",
        f"N1*PE*SYNTHETIC PROVIDER {payee % 7}*XX*{payee}",
        f"REF*TJ*{100_000_000 + payee % 7}",
        "LX*1",
    ]
    for claim in tx.claims:
        body.extend(_claim_segments(claim))
    if tx.plb:
        pairs = "*".join(f"{code}*{_money(amount)}" for code, amount in tx.plb)
        body.append(f"PLB*{payee}*20261231*{pairs}")
    body.append(f"SE*{len(body) + 1}*{tx.control:04d}")
    return body


def synthetic_835(claims: int = 20_000, seed: int = 0) -> bytes:
    """A balanced 5010 835 with ``claims`` claims in about claims/200 transaction sets."""
    rng = random.Random(seed)
    set_count = max(1, round(claims / CLAIMS_PER_SET))
    sizes = [claims // set_count + (1 if i < claims % set_count else 0) for i in range(set_count)]
    segments = [
        ISA,
        "GS*HP*SYNTHPAYER*SYNTHPROV*20261101*1200*1*X*005010X221A1",
    ]
    first = 0
    for index, size in enumerate(sizes):
        tx = _Set(control=index + 1, claims=_claims(rng, size, first))
        first += size + 2  # claim numbers never repeat across sets
        tx.plb = _plb(rng, index, sum(claim.paid for claim in tx.claims))
        segments.extend(_set_segments(tx, rng))
    segments.append(f"GE*{set_count}*1")
    segments.append("IEA*1*000000001")
    return ("~\n".join(segments) + "~\n").encode("ascii")
