"""The pipeline's self-watch as pure functions: a worker's membership, and the verdict on freshness."""

from streams.watch import Freshness, Membership, judge, read_past


def test_a_member_without_partitions_in_a_rebalancing_group_is_stuck_after_the_bound() -> None:
    m = Membership(started=100.0, rejoin_after_s=30.0)
    m.observe(101.0, owned=0, stable=False, drained=False)
    assert m.state == "rejoining"
    assert not m.stuck(130.0)  # 30 s since start: at the bound, not past it
    assert m.stuck(130.5)
    m.rejoined(130.5)
    assert m.rejoins == 1
    assert not m.stuck(160.0) and m.stuck(161.0)  # the bound starts again for the fresh member


def test_a_worker_starts_without_progress_and_only_records_written_or_nothing_left_to_read_count() -> None:
    m = Membership(started=0.0, rejoin_after_s=5.0)
    assert m.progress is None and m.caught_up is None  # "not yet progressing", whatever its start
    m.observe(1.0, owned=3, stable=True, drained=False)
    assert m.state == "owning" and m.progress is None  # records fetched: progress comes with their commit
    m.observe(1.5, owned=3, stable=True, drained=False)
    assert m.progress is None and m.caught_up is None  # an empty poll while records wait is not progress
    m.committed(2.0)
    assert m.progress == 2.0
    m.observe(9.0, owned=3, stable=True, drained=True)
    assert m.caught_up == 9.0 and m.progress == 2.0  # nothing left to read: nothing waits for it
    m.observe(10.0, owned=0, stable=True, drained=True)
    assert m.state == "idle" and not m.stuck(100.0) and m.caught_up == 9.0  # owning nothing proves nothing
    m.observe(20.0, owned=0, stable=False, drained=False)
    assert m.unowned_since == 20.0 and not m.stuck(25.0) and m.stuck(25.5)


def test_the_verdict_takes_the_oldest_unrecorded_event_and_the_time_without_progress_while_records_wait() -> None:
    idle = Freshness(oldest_unrecorded_s=None, since_progress_s=4000.0, lag={0: 0, 1: 0}, members=1)
    assert judge(idle, 60, 300)[0] == "ok"  # nothing waits: however long since the last record
    behind = Freshness(oldest_unrecorded_s=61.0, since_progress_s=1.0, lag={0: 5}, members=2)
    assert judge(behind, 60, 300)[0] == "degraded"
    stalled = Freshness(oldest_unrecorded_s=None, since_progress_s=301.0, lag={0: 2, 1: 3}, members=1)
    verdict, why = judge(stalled, 60, 300)
    assert verdict == "failing" and "5 record(s) waiting" in why
    assert judge(Freshness(60.0, 60.0, {0: 1}, 1), 60, 300)[0] == "ok"  # at the threshold, not past it


def test_the_group_has_gone_past_a_moment_when_every_partition_is_committed_past_its_first_record_since() -> None:
    ends = {0: 10, 1: 4}
    since = {0: (7, 1_000), 1: (4, -1)}  # partition 1: no record since (the local broker says offset 4 or 0, -1)
    assert read_past(ends, since, {0: 7, 1: 4})  # everything before the moment is read
    assert read_past(ends, since, {0: 9, 1: 4})
    assert not read_past(ends, since, {0: 6, 1: 4})  # record 6 was written before the moment and is unread
    assert not read_past(ends, since, {0: 7, 1: 3})  # partition 1: all 4 records are from before it
    assert read_past(ends, {0: (7, 1_000), 1: (0, -1)}, {0: 7, 1: 4})  # Tansu's "none": offset 0, timestamp -1
    assert not read_past(ends, {0: (7, 1_000), 1: (0, -1)}, {0: 7})  # a partition never committed
    assert read_past({0: 3}, {0: (0, 500)}, {})  # a topic made again after a broker's loss: all of it is newer
    assert read_past({0: 0}, {0: (-1, -1)}, {0: -1})  # empty, nothing committed: nothing waits
