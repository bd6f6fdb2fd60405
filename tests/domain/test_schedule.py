"""The scheduling arithmetic on its own (no database): critical path in working-day indices
(domain/delivery/schedule.py) and the working-day calendar it is laid on (calendar.py)."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from tandem.domain.delivery.calendar import WorkCalendar
from tandem.domain.delivery.schedule import FS, SS, CycleError, Link, Node, find_cycle, schedule

MONDAY = date(2026, 6, 1)
SATURDAY = date(2026, 5, 30)
DRAGON_BOAT = date(2026, 6, 19)  # a Friday


def spans(plan, *ids: int) -> list[tuple[int, int]]:
    return [(plan.timings[i].early_start, plan.timings[i].early_finish) for i in ids]


def forecasts(plan, *ids: int) -> list[tuple[int, int]]:
    return [(plan.timings[i].forecast_start, plan.timings[i].forecast_finish) for i in ids]


# --- forward and backward passes ----------------------------------------------------------------


def test_finish_to_start_waits_for_the_predecessor_plus_its_lag():
    # given A (4 days), then B one day after A finishes, and C overlapping A's last two days (lead)
    nodes = [Node(1, 4), Node(2, 2), Node(3, 1)]
    links = [Link(1, 2, FS, 1), Link(1, 3, FS, -2)]
    # when
    plan = schedule(nodes, links)
    # then finishes are exclusive indices
    assert spans(plan, 1, 2, 3) == [(0, 4), (5, 7), (2, 3)]
    assert plan.finish == 7


def test_start_to_start_waits_for_the_predecessor_start_plus_its_lag():
    # given A (4 days) and B (3 days) starting two days after A starts
    plan = schedule([Node(1, 4), Node(2, 3)], [Link(1, 2, SS, 2)])
    # then B overlaps A and ends the project
    assert spans(plan, 1, 2) == [(0, 4), (2, 5)]
    assert plan.finish == 5
    # and A may not start later than B's start minus the lag allows: both are critical
    assert [plan.timings[i].slack for i in (1, 2)] == [0, 0]


def test_a_start_to_start_successor_leaves_its_predecessor_slack_up_to_the_finish():
    # given A (4) with C (2) one day after it, and B (3) starting two days after A starts
    plan = schedule([Node(1, 4), Node(2, 3), Node(3, 2)], [Link(1, 2, SS, 2), Link(1, 3, FS, 1)])
    # then A → C is the critical chain (finish 7); B may slip by two days
    assert spans(plan, 1, 2, 3) == [(0, 4), (2, 5), (5, 7)]
    assert [(plan.timings[i].late_start, plan.timings[i].late_finish) for i in (1, 2, 3)] == [(0, 4), (4, 7), (5, 7)]
    assert [plan.timings[i].slack for i in (1, 2, 3)] == [0, 2, 0]
    assert [plan.timings[i].critical for i in (1, 2, 3)] == [True, False, True]


def test_a_task_starts_no_earlier_than_its_own_constraint():
    # given B after A, but not before day 6
    plan = schedule([Node(1, 2), Node(2, 2, not_before=6)], [Link(1, 2)])
    # then
    assert spans(plan, 1, 2) == [(0, 2), (6, 8)]
    # and A, no longer driving B, has all the slack before B's constrained start
    assert plan.timings[1].slack == 4


def test_a_milestone_takes_no_time_and_sits_on_the_critical_path():
    # given build (3), then a milestone, then handover (2) after the milestone
    plan = schedule([Node(1, 3), Node(2, 0), Node(3, 2)], [Link(1, 2), Link(2, 3)])
    # then
    assert spans(plan, 1, 2, 3) == [(0, 3), (3, 3), (3, 5)]
    assert [plan.timings[i].critical for i in (1, 2, 3)] == [True, True, True]


def test_the_critical_path_and_slack_of_a_textbook_network():
    # given A 3, B 4 after A, C 2 after A, D 5 after B, E 1 after C, F 2 after D and E
    nodes = [Node(1, 3), Node(2, 4), Node(3, 2), Node(4, 5), Node(5, 1), Node(6, 2)]
    links = [Link(1, 2), Link(1, 3), Link(2, 4), Link(3, 5), Link(4, 6), Link(5, 6)]
    # when
    plan = schedule(nodes, links)
    # then the forward pass
    assert spans(plan, 1, 2, 3, 4, 5, 6) == [(0, 3), (3, 7), (3, 5), (7, 12), (5, 6), (12, 14)]
    assert plan.finish == 14
    # and the backward pass
    late = [(plan.timings[i].late_start, plan.timings[i].late_finish) for i in range(1, 7)]
    assert late == [(0, 3), (3, 7), (9, 11), (7, 12), (11, 12), (12, 14)]
    assert [plan.timings[i].slack for i in range(1, 7)] == [0, 0, 6, 0, 6, 0]
    assert [i for i in range(1, 7) if plan.timings[i].critical] == [1, 2, 4, 6]
    # and every task comes after its predecessors in the order
    assert plan.order.index(1) < plan.order.index(3) < plan.order.index(5) < plan.order.index(6)


def test_an_empty_plan_finishes_at_day_zero():
    plan = schedule([], [])
    assert (plan.finish, plan.forecast_finish, plan.timings) == (0, 0, {})


# --- summary tasks --------------------------------------------------------------------------------


def test_a_summary_task_spans_its_children_and_takes_their_least_slack():
    # given phase 10 = {A 2, B 3 after A}, phase 20 = {D 1, on its own}, and C 1 after B
    nodes = [Node(10, 99), Node(1, 2, parent_id=10), Node(2, 3, parent_id=10), Node(3, 1),
             Node(20, 99), Node(4, 1, parent_id=20)]
    links = [Link(1, 2), Link(2, 3)]
    # when
    plan = schedule(nodes, links)
    # then a summary's own duration is ignored: it spans its children
    assert spans(plan, 10, 20) == [(0, 5), (0, 1)]
    assert plan.finish == 6
    assert (plan.timings[10].slack, plan.timings[10].critical) == (0, True)
    assert (plan.timings[20].slack, plan.timings[20].critical) == (5, False)
    assert plan.timings[20].late_finish == 6
    # and summary tasks are not scheduled themselves
    assert sorted(plan.order) == [1, 2, 3, 4]


def test_nested_summary_tasks_roll_up_level_by_level():
    # given project 100 ⊃ phase 10 ⊃ {A 2, B 3 after A}, and project 100 ⊃ C 4
    nodes = [Node(100, 0), Node(10, 0, parent_id=100), Node(1, 2, parent_id=10), Node(2, 3, parent_id=10),
             Node(3, 4, parent_id=100)]
    plan = schedule(nodes, [Link(1, 2)])
    # then
    assert spans(plan, 10, 100) == [(0, 5), (0, 5)]
    assert plan.timings[100].slack == 0


def test_links_touching_a_summary_task_are_ignored():
    # given phase 10 = {A 2}, and a link from the phase to B (3)
    plan = schedule([Node(10, 0), Node(1, 2, parent_id=10), Node(2, 3)], [Link(10, 2)])
    # then B does not wait
    assert spans(plan, 2) == [(0, 3)]


# --- forecast -------------------------------------------------------------------------------------


def test_the_forecast_keeps_what_is_done_and_plans_the_rest_from_today():
    # given A 5 → B 4 → C 3, and D 2 on its own; today is day 7
    # A finished a day late (actual days 0-5), B started on day 6 and is a quarter done
    nodes = [Node(1, 5, done=True, percent=100, actual_start=0, actual_finish=6),
             Node(2, 4, started=True, percent=25, actual_start=6),
             Node(3, 3),
             Node(4, 2)]
    links = [Link(1, 2), Link(2, 3)]
    # when
    plan = schedule(nodes, links, today=7)
    # then the plan is unchanged
    assert spans(plan, 1, 2, 3, 4) == [(0, 5), (5, 9), (9, 12), (0, 2)]
    assert plan.finish == 12
    # and the forecast: B needs ceil(4 × 75 %) = 3 more days from today, C follows, D cannot start in the past
    assert forecasts(plan, 1, 2, 3, 4) == [(0, 6), (6, 10), (10, 13), (7, 9)]
    assert plan.forecast_finish == 13


def test_a_task_finished_early_lets_its_successor_start_today_not_earlier():
    # given A 5 done in two days (actual 0-2), B 3 after it; today is day 4
    plan = schedule([Node(1, 5, done=True, actual_start=0, actual_finish=2), Node(2, 3)], [Link(1, 2)], today=4)
    # then
    assert forecasts(plan, 1, 2) == [(0, 2), (4, 7)]


def test_a_task_done_without_recorded_dates_keeps_its_planned_span():
    plan = schedule([Node(1, 2), Node(2, 3, done=True)], [Link(1, 2)], today=9)
    assert forecasts(plan, 2) == [(2, 5)]


def test_a_started_task_without_an_actual_start_counts_from_today_at_the_latest():
    # given A done on time, and B (4 days, 50 % done) that could start on day 2; today is day 5
    plan = schedule([Node(1, 2, done=True, actual_start=0, actual_finish=2), Node(2, 4, percent=50)], [Link(1, 2)],
                    today=5)
    # then it started by its planned start, and needs two more days from today
    assert forecasts(plan, 2) == [(2, 7)]


def test_a_summary_task_spans_its_childrens_forecasts():
    nodes = [Node(10, 0), Node(1, 3, parent_id=10, done=True, actual_start=0, actual_finish=3),
             Node(2, 2, parent_id=10)]
    plan = schedule(nodes, [Link(1, 2)], today=6)
    assert forecasts(plan, 10) == [(0, 8)]


# --- cycles ---------------------------------------------------------------------------------------


def test_a_cycle_is_refused_naming_the_tasks_around_it():
    # given A → B → C → A, and D downstream of the cycle, E on its own
    nodes = [Node(i, 1) for i in range(1, 6)]
    links = [Link(1, 2), Link(2, 3), Link(3, 1), Link(3, 4)]
    # when
    with pytest.raises(CycleError) as refused:
        schedule(nodes, links)
    # then
    assert sorted(refused.value.path) == [1, 2, 3]


def test_a_task_depending_on_itself_is_a_cycle():
    with pytest.raises(CycleError) as refused:
        schedule([Node(1, 1), Node(2, 1)], [Link(1, 2), Link(2, 2)])
    assert refused.value.path == [2]


def test_find_cycle_returns_the_path_a_new_link_would_close():
    # given A → B → C and A → D
    edges = {1: [2, 4], 2: [3]}
    # then adding C → A closes A → B → C
    assert find_cycle(edges, 1, 3) == [1, 2, 3]
    # and adding A → C does not (nothing leads from C back to A)
    assert find_cycle(edges, 3, 1) is None
    # and a task linked to itself is a cycle of one
    assert find_cycle(edges, 2, 2) == [2]
    # and unknown tasks have no path
    assert find_cycle(edges, 7, 1) is None


def test_find_cycle_takes_the_shortest_way_round():
    edges = {1: [2, 5], 2: [3], 3: [4], 5: [4]}
    assert find_cycle(edges, 1, 4) == [1, 5, 4]


# --- working-day calendar -------------------------------------------------------------------------


def test_working_days_skip_the_weekend():
    # given a calendar starting on Monday 1 June 2026
    cal = WorkCalendar(MONDAY)
    # then Monday to Friday are days 0-4 and the next Monday is day 5
    assert [cal.index_of(MONDAY + timedelta(days=n)) for n in range(8)] == [0, 1, 2, 3, 4, 5, 5, 5]
    assert [cal.date_of(i) for i in (0, 4, 5, 9, 10)] == [
        date(2026, 6, 1), date(2026, 6, 5), date(2026, 6, 8), date(2026, 6, 12), date(2026, 6, 15)]
    assert cal.is_working(date(2026, 6, 5)) and not cal.is_working(date(2026, 6, 6))


def test_days_before_the_origin_have_negative_indices():
    cal = WorkCalendar(MONDAY)
    assert [cal.date_of(-1), cal.date_of(-5), cal.date_of(-6)] == [
        date(2026, 5, 29), date(2026, 5, 25), date(2026, 5, 22)]
    assert [cal.index_of(date(2026, 5, 29)), cal.index_of(date(2026, 5, 22))] == [-1, -6]
    # a weekend day counts as the Monday after it
    assert cal.index_of(date(2026, 5, 23)) == -5


def test_a_calendar_starting_on_saturday_starts_on_the_next_monday():
    cal = WorkCalendar(SATURDAY)
    assert cal.origin == MONDAY
    assert [cal.index_of(SATURDAY), cal.index_of(MONDAY), cal.date_of(0)] == [0, 0, MONDAY]


def test_a_holiday_is_not_a_working_day():
    # given the Dragon Boat Festival off
    cal = WorkCalendar(MONDAY, holidays=[DRAGON_BOAT])
    # then Thursday 18 June is day 13 and the next working day is Monday 22 June
    assert [cal.date_of(13), cal.date_of(14)] == [date(2026, 6, 18), date(2026, 6, 22)]
    assert cal.index_of(DRAGON_BOAT) == 14
    assert cal.working_days_between(date(2026, 6, 15), date(2026, 6, 21)) == 4
    assert not cal.is_working(DRAGON_BOAT)


def test_working_days_between_counts_both_ends():
    cal = WorkCalendar(MONDAY)
    assert cal.working_days_between(MONDAY, MONDAY) == 1
    assert cal.working_days_between(MONDAY, date(2026, 6, 5)) == 5
    assert cal.working_days_between(date(2026, 6, 4), date(2026, 6, 9)) == 4  # Thu, Fri, Mon, Tue
    assert cal.working_days_between(date(2026, 6, 6), date(2026, 6, 7)) == 0  # a weekend
    assert cal.working_days_between(date(2026, 6, 6), date(2026, 6, 8)) == 1
    assert cal.working_days_between(date(2026, 6, 5), MONDAY) == 0  # end before start
    assert cal.working_days_between(date(2026, 5, 25), date(2026, 6, 5)) == 10  # across the origin


def test_a_friday_and_saturday_weekend():
    # given a week that rests on Friday and Saturday, from Thursday 4 June 2026
    cal = WorkCalendar(date(2026, 6, 4), weekend=(4, 5))
    # then Thursday is day 0, Sunday day 1, and the following Thursday day 5
    assert [cal.date_of(i) for i in range(6)] == [
        date(2026, 6, 4), date(2026, 6, 7), date(2026, 6, 8), date(2026, 6, 9), date(2026, 6, 10),
        date(2026, 6, 11)]
    assert [cal.index_of(date(2026, 6, 5)), cal.index_of(date(2026, 6, 6))] == [1, 1]
    assert cal.working_days_between(date(2026, 6, 4), date(2026, 6, 13)) == 6
    # and a calendar that would start on Friday starts on Sunday
    assert WorkCalendar(date(2026, 6, 5), weekend=(4, 5)).origin == date(2026, 6, 7)


def test_a_week_without_a_working_day_is_refused():
    with pytest.raises(ValueError):
        WorkCalendar(MONDAY, weekend=range(7))


@pytest.mark.parametrize("weekend", [(5, 6), (4, 5), (6,), (), (0, 1, 2, 3, 4, 5)])
def test_index_of_and_date_of_agree_with_counting_day_by_day(weekend):
    # given a calendar with holidays before, around and long after its origin
    rng = random.Random(len(weekend))
    origin = date(2026, 3, 5)
    holidays = {origin + timedelta(days=rng.randrange(-90, 900)) for _ in range(40)}
    cal = WorkCalendar(origin, weekend=weekend, holidays=holidays)
    working = [d for d in (origin + timedelta(days=n) for n in range(-200, 1200))
               if d.weekday() not in weekend and d not in holidays]
    zero = working.index(cal.origin)
    # when asked in no particular order (far ahead first, then back and forth)
    for day in rng.sample([origin + timedelta(days=n) for n in range(-150, 1000)], 400):
        expected = working.index(next(d for d in working if d >= day)) - zero
        # then
        assert cal.index_of(day) == expected, day
        assert cal.date_of(expected) == working[zero + expected]
