"""A group member that joins and then freezes before SyncGroup (as a process stopped mid-rebalance would).

    python -m tests.frozen_member SERVERS GROUP TOPIC

Prints ``joined`` once its JoinGroup succeeded, then stops itself (SIGSTOP) holding its
connection open: the coordinator waits for its SyncGroup until its session expires.
"""

import os
import signal
import sys
from typing import Any

from kafka import KafkaConsumer
from kafka.coordinator import base

_process = base.BaseCoordinator._process_join_group_response


def _freeze(self: Any, response: Any, send_time: Any) -> Any:
    answer = _process(self, response, send_time)
    print("joined", flush=True)
    os.kill(os.getpid(), signal.SIGSTOP)
    return answer


def main() -> None:
    servers, group, topic = sys.argv[1:4]
    base.BaseCoordinator._process_join_group_response = _freeze  # type: ignore[method-assign]
    member = KafkaConsumer(topic, bootstrap_servers=servers, group_id=group, session_timeout_ms=40000)
    while True:
        member.poll(timeout_ms=500)


if __name__ == "__main__":
    main()
