"""What a person must act on, and by when (rules §11, §13): payer kinds, deadlines, state look-back limits,
Medicare interest estimates, recoveries taken twice and the forecast of offsets.

Every rule here comes from a shipped table with a citation and a "checked on" date per row (`data/`), loaded and
checked by `rule_tables`; a row without a source does not load. Plain Python: no Faust, no clock (callers pass
"today"), so the same inputs always give the same answer.
"""
