"""The domain core: Takeback's rules in plain Python (no Faust, no Kafka).

Entry points: `ledger` (what the stream layer calls: `ProviderLedger`, `facts_from_json`,
`apply_remittance`, `settle`, `cash_row`; see its `__all__`), `x12.read_835` (835 bytes in,
remittances and dead letters out), `offline` (all of it without a broker).

Where each rule lives:
* `matching`: the order rules are applied in; `claim_matching` (reversals, originals, corrections,
  reversal or recoupment, rules §3, §5); `plb_matching` (PLB recoveries, carried balances and their
  settlement, rules §4); `plb_pairing` (PLB amounts of one remittance that offset each other);
* `disbursement` (moved money, signed BPR02, takeback date), `plb_codes`, `references` (PLB
  reference tokens), `reasons` (rules §6), `cash` (rules §8), `npi`, `ids` (deterministic ids, and the
  ledger key: one ledger per TIN);
* `facts`: a remittance event decoded into what a ledger stores;
* `derived_state` and `claim_index`: what matching computes from a ledger's facts;
* `ledger_records`: how a ledger is stored; `chunking`: cutting large inputs into messages;
* `x12`: `tokenizer`, `reader`, `builders` (models without re-validation), `identity` (rules §2);
* `bank`: deposit files (`nacha`, `bai2`, `detect`) and reassociation (`reassociation`: the facts and rules of
  one route; `matcher`: stream time and due dates; `position`: per provider and payer), rules §10;
* `access`: people, roles, sessions, sign-in locks, password hashes and the local `next` path, rules §12.
"""
