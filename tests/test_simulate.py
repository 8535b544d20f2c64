"""The simulator's events: a seeded mix, with ids that never repeat across runs."""

import random

import shapely

from cli.simulate import Gridworker, households_to_visit, make_event


def test_two_runs_with_one_seed_send_the_same_mix_under_new_ids() -> None:
    worker = Gridworker("gw-321111001001001", "321111001001001", shapely.box(119.40, 32.20, 119.41, 32.21))
    first, second = ([make_event(rng, worker) for _ in range(50)] for rng in (random.Random(1), random.Random(1)))

    assert [e["kind"] for e in first] == [e["kind"] for e in second]
    assert [e["category"] for e in first] == [e["category"] for e in second]
    assert len({e["id"] for e in first + second}) == 100


def test_visits_follow_the_due_list_and_some_households_are_left_overdue() -> None:
    due = {
        "overdue": [{"household": f"h-{n}"} for n in range(40)],
        "this_week": [{"household": "week-1"}],
        "later": [{"household": "later-1"}],
    }
    order = households_to_visit(due)
    listed = [h["household"] for status in ("overdue", "this_week", "later") for h in due[status]]
    assert order == [h for h in listed if h in set(order)]  # soonest due first
    assert 30 <= len(order) < 42  # one in fifteen, by a hash of its id, is never visited
    worker = Gridworker("gw-x", "321111001001001", shapely.box(119.40, 32.20, 119.41, 32.21), to_visit=order[:])
    visits = [e for e in (make_event(random.Random(n), worker) for n in range(200)) if e["kind"] == "visit"]
    assert [v["household"] for v in visits] == order[: len(visits)] and visits
