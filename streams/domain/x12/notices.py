"""What the reader skipped or repaired in an input: a sentence for a person, and a short code for operators.

The code is given where the notice is made, so a metric label or a log summary never has to parse the sentence.
Neither holds patient data: positions and segment names only.
"""

from __future__ import annotations

NON_835_SET_SKIPPED = "non_835_set_skipped"
UNTERMINATED_SET_SKIPPED = "unterminated_set_skipped"
BYTES_BEFORE_FIRST_SEGMENT = "bytes_before_first_segment"
NO_ENVELOPE = "no_envelope"
SE_WITHOUT_ST = "se_without_st"
GROUP_WITHOUT_GE = "group_without_ge"
INTERCHANGE_WITHOUT_IEA = "interchange_without_iea"
GE_WITHOUT_GROUP = "ge_without_group"
IEA_WITHOUT_INTERCHANGE = "iea_without_interchange"
SEGMENTS_OUTSIDE_SETS = "segments_outside_sets"

NOTICE_CODES = frozenset(
    {
        NON_835_SET_SKIPPED,
        UNTERMINATED_SET_SKIPPED,
        BYTES_BEFORE_FIRST_SEGMENT,
        NO_ENVELOPE,
        SE_WITHOUT_ST,
        GROUP_WITHOUT_GE,
        INTERCHANGE_WITHOUT_IEA,
        GE_WITHOUT_GROUP,
        IEA_WITHOUT_INTERCHANGE,
        SEGMENTS_OUTSIDE_SETS,
    }
)


class Notice(str):
    """The sentence itself (so notices read and compare as text), with its `code`."""

    code: str

    def __new__(cls, code: str, message: str) -> Notice:
        notice = super().__new__(cls, message)
        notice.code = code
        return notice
