"""A ticket's status moves (a pure rule) and how a hand-off reads on its timeline, whole or cut for a reader who
may not read the ticket's queue."""

from __future__ import annotations

import pytest

from tandem.domain.collaboration.timeline import describe
from tandem.domain.service.errors import ServiceErrorCode
from tandem.domain.service.ticket import MOVES, TicketStatus, check_move
from tandem.domain.shared.errors import ValidationFailed

S = TicketStatus


@pytest.mark.parametrize(("current", "target"), [
    (S.NEW, S.OPEN), (S.NEW, S.RESOLVED), (S.OPEN, S.PENDING_CUSTOMER), (S.PENDING_CUSTOMER, S.OPEN),
    (S.PENDING_INTERNAL, S.PENDING_CUSTOMER), (S.OPEN, S.CLOSED), (S.RESOLVED, S.CLOSED), (S.RESOLVED, S.OPEN),
    (S.CLOSED, S.OPEN),
])
def test_allowed_moves_pass(current, target):
    check_move(current, target)


@pytest.mark.parametrize(("current", "target"), [
    (S.RESOLVED, S.RESOLVED), (S.CLOSED, S.RESOLVED), (S.CLOSED, S.PENDING_CUSTOMER), (S.RESOLVED, S.NEW),
    (S.OPEN, S.NEW), (S.PENDING_CUSTOMER, S.NEW), (S.CLOSED, S.CLOSED),
])
def test_other_moves_are_invalid_transitions(current, target):
    with pytest.raises(ValidationFailed) as raised:
        check_move(current, target)
    [error] = raised.value.errors
    assert (error.field, error.code) == (("status",), ServiceErrorCode.INVALID_TRANSITION)


def test_no_status_moves_back_to_new_and_closed_only_reopens():
    assert all(S.NEW not in targets for targets in MOVES.values())
    assert MOVES[S.CLOSED] == {S.OPEN}


def test_a_hand_off_reads_with_its_queue_and_reason_or_without_them():
    whole = {"department": "sales", "reason": "扩容询价", "toQueueId": 2}
    assert describe("ticket.handed_off", "Ticket", whole) == ("handed_off", "Handed off to the sales queue: 扩容询价")
    assert describe("ticket.handed_off", "Ticket", {"id": 1}) == ("handed_off", "Handed off to another queue")
