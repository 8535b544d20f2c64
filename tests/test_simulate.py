"""The simulator's events: a seeded mix, with ids that never repeat across runs."""

import random

import shapely

from cli.simulate import Gridworker, make_event


def test_two_runs_with_one_seed_send_the_same_mix_under_new_ids() -> None:
    worker = Gridworker("gw-321111001001001", "321111001001001", shapely.box(119.40, 32.20, 119.41, 32.21))
    first, second = ([make_event(rng, worker) for _ in range(50)] for rng in (random.Random(1), random.Random(1)))

    assert [e["kind"] for e in first] == [e["kind"] for e in second]
    assert [e["category"] for e in first] == [e["category"] for e in second]
    assert len({e["id"] for e in first + second}) == 100
