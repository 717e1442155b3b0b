"""The work state of a target (rules §12), folded from actions without Faust: idempotent, in order, no money."""

from __future__ import annotations

import datetime as dt

import pytest

from schemas import Action
from streams.action_input import FIELDS, ActionInvalid, build_action
from streams.domain.work_state import DisputeState, apply, fold

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def act(action_id: str, what: dict, actor: str = "pat", minutes: int = 0, target: str = "tb1") -> Action:
    return build_action(
        target_kind="takeback",
        target_id=target,
        provider_id="1234567890",
        actor=actor,
        action_id=action_id,
        what=what,
        now=T0 + dt.timedelta(minutes=minutes),
    )


DISPUTE = {"kind": "dispute", "filed_date": "2026-12-01", "reference_number": "APL-17", "letter_date": "2026-11-20"}


def test_an_action_applied_twice_acts_once() -> None:
    first = apply(None, act("a1", {"kind": "acknowledge"}))
    assert first is not None and len(first.history) == 1
    assert apply(first, act("a1", {"kind": "acknowledge"}, minutes=5)) is None
    assert fold([act("a1", {"kind": "acknowledge"}), act("a1", {"kind": "acknowledge"})]).history == first.history


def test_the_state_follows_the_actions_in_order() -> None:
    state = fold(
        [
            act("a1", {"kind": "assign", "assignee": "sam"}, actor="lead"),
            act("a2", DISPUTE, actor="sam", minutes=1),
            act("a3", {"kind": "note", "text": "called the payer"}, actor="sam", minutes=2),
        ]
    )
    assert state is not None
    assert state.assignee == "sam"
    assert state.dispute_state == DisputeState.disputed
    assert state.reference_number == "APL-17"
    assert state.letter_date == dt.date(2026, 11, 20)
    assert state.last_action == "note" and state.last_actor == "sam"
    assert state.last_action_at == T0 + dt.timedelta(minutes=2)
    assert [a.action_id for a in state.newest_first()] == ["a3", "a2", "a1"]


def test_the_letter_date_is_day_one_of_the_deadlines() -> None:
    seen = dt.date(2026, 11, 25)
    state = fold([act("a1", {"kind": "acknowledge"})])
    assert state.day_one(seen) == seen
    assert fold([act("a1", DISPUTE)]).day_one(seen) == dt.date(2026, 11, 20)
    # an appeal filed later without the letter's date keeps the date a person entered before
    later = fold([act("a1", DISPUTE), act("a2", {**DISPUTE, "kind": "appeal", "letter_date": ""}, minutes=1)])
    assert later.dispute_state == DisputeState.appealed and later.letter_date == dt.date(2026, 11, 20)


def test_a_dispute_on_unassigned_work_gives_it_to_whoever_filed_it() -> None:
    assert fold([act("a1", DISPUTE, actor="sam")]).assignee == "sam"
    assigned = fold([act("a1", {"kind": "assign", "assignee": "kim"}), act("a2", DISPUTE, actor="sam")])
    assert assigned.assignee == "kim"
    assert fold([act("a1", {"kind": "acknowledge"}, actor="sam")]).assignee is None


def test_accept_refund_and_posted_are_recorded_without_money() -> None:
    state = fold(
        [
            act("a1", {"kind": "accept"}),
            act("a2", {"kind": "refund_sent", "check_number": "5001", "amount": "120.50", "sent_date": "2026-12-02"}),
            act("a3", {"kind": "posted", "reference": "batch 44"}),
        ]
    )
    assert state.dispute_state == DisputeState.accepted and state.refund_sent and state.posted
    assert not {"amount", "net_cash", "remaining"} & set(type(state).model_fields)


@pytest.mark.parametrize(
    ("what", "errors"),
    [
        ({"kind": "dispute", "filed_date": "2026-12-01"}, {"reference_number": "required"}),
        (
            {**DISPUTE, "letter_date": "2026-12-05"},
            {"letter_date": "the payer's letter cannot be dated after the date filed"},
        ),
        (
            {"kind": "refund_sent", "check_number": "1", "amount": "-5", "sent_date": "12/01/2026"},
            {"amount": "must be more than 0", "sent_date": "not a date (YYYY-MM-DD)"},
        ),
        (
            {"kind": "refund_sent", "check_number": "1", "amount": "1.234", "sent_date": "2026-12-01"},
            {"amount": "at most 2 decimals"},
        ),
        ({"kind": "assign", "assignee": "  "}, {"assignee": "required"}),
        ({"kind": "note", "text": "x", "amount": "5"}, {"amount": "not a field of 'note'"}),
        (
            {"kind": "refund"},
            {"kind": "'refund' is not an action; one of " + ", ".join(FIELDS)},
        ),
    ],
)
def test_each_kind_is_checked_with_a_message_per_field(what: dict, errors: dict) -> None:
    with pytest.raises(ActionInvalid) as caught:
        act("a1", what)
    assert caught.value.errors == errors
