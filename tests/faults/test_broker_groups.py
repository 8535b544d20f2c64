"""What the local broker (Tansu) does when a group's leader dies: the behaviour the worker's timings rest on.

A fresh member's first JoinGroup is answered after half the session timeout with the dead
leader still in the group and still its leader. Its SyncGroup then waits for the leader's
assignment until the coordinator gives the dead member up: a whole session timeout, counted
from that join (not from the dead member's last heartbeat). A second join round follows.
So a fresh member gets partitions about ``session × 1.5 + session / 2`` after it asks.
A leader that leaves (a clean stop) costs one join round only.
"""

import signal
import subprocess
import sys
import time
import uuid

from kafka import KafkaConsumer

from api.settings import Settings
from cli.local.scratch import fresh_topics
from streams.kafka import consumer

SESSION_MS = 4000
MEMBER = f"""
import signal, sys
from kafka import KafkaConsumer
c = KafkaConsumer(sys.argv[2], bootstrap_servers=sys.argv[1], group_id=sys.argv[3],
                  session_timeout_ms={SESSION_MS}, heartbeat_interval_ms=1000)
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
told = False
while not stop:
    c.poll(timeout_ms=200)
    if c.assignment() and not told:
        print("owning", flush=True)
        told = True
c.close()
"""


def _leader(settings: Settings, topic: str, group: str) -> subprocess.Popen[str]:
    leader = subprocess.Popen(
        [sys.executable, "-c", MEMBER, settings.kafka.bootstrap_servers, topic, group],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert leader.stdout is not None and leader.stdout.readline().strip() == "owning"
    return leader


def _seconds_to_partitions(settings: Settings, topic: str, group: str) -> float:
    fresh: KafkaConsumer = consumer(settings.kafka, group, topic, client_id="fresh")
    started = time.monotonic()
    try:
        while not fresh.assignment():
            fresh.poll(timeout_ms=200)
            assert time.monotonic() - started < 30, "the fresh member got no partitions in 30 s"
        return time.monotonic() - started
    finally:
        fresh.close(autocommit=False)


def test_a_dead_leader_holds_a_fresh_member_for_a_session_and_two_joins_a_leader_that_left_for_one(
    settings: Settings,
) -> None:
    here = fresh_topics(settings, "g", kafka_session_timeout_ms=SESSION_MS, kafka_heartbeat_interval_ms=1000)
    topic = here.kafka.topic_prefix + "events.raw"
    join_s, session_s = SESSION_MS / 2000, SESSION_MS / 1000

    killed_group = f"dead-{uuid.uuid4().hex[:6]}"
    leader = _leader(here, topic, killed_group)
    leader.send_signal(signal.SIGKILL)
    leader.wait()
    after_kill = _seconds_to_partitions(here, topic, killed_group)

    left_group = f"left-{uuid.uuid4().hex[:6]}"
    leader = _leader(here, topic, left_group)
    leader.send_signal(signal.SIGTERM)  # consumer.close(): a LeaveGroup
    leader.wait(timeout=10)
    after_leave = _seconds_to_partitions(here, topic, left_group)

    print(f"fresh member's partitions: {after_kill:.1f} s after a killed leader, {after_leave:.1f} s after one left")
    assert join_s + session_s <= after_kill <= 2 * join_s + session_s + 1.5, after_kill
    assert after_leave <= join_s + 1.5, after_leave
