"""Simulated supervisors, departments and gridworkers working the case loop through the HTTP API.

Each round, as a centre would: reports are taken in (most filed and dispatched, a few refused,
voided or merged as duplicates), units sign for what they are sent (or return it), holders fix
cases and prove it with an after photo (some ask for more time first), supervisors decide on
those requests and verify the work, sending some back for rework. Every choice is seeded and
taken with a probability per round, so some cases wait past their deadlines and escalate.
"""

import io
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from PIL import Image

from cli.demo import SIMULATED, sim_gridworker

log = logging.getLogger(__name__)
HTTP_OK = 200
WHISTLED_FROM = ("grid", "community")


@dataclass(frozen=True)
class Habits:
    """How often each choice is made, per case and round."""

    # A case is looked at this round (else it waits: deadlines pass). At a round every 1.5 s, 0.02 is about
    # 75 s a step: people's pace on the demo's minute-long deadlines, so queues hold tens of cases.
    act: float = 0.02
    act_escalated: float = 0.01  # a case whistled up is looked at less often: the levels above answer later
    refuse: float = 0.04
    void: float = 0.03
    merge: float = 0.06  # asked for duplicates; merged when there is a candidate
    to_gridworker: float = 0.4  # dispatched to the grid's gridworker rather than the responsible unit
    decline: float = 0.08
    extend: float = 0.1
    whistle: float = 0.06  # the grid cannot solve it: whistled up a level (网格吹哨)
    approve: float = 0.7
    rework: float = 0.15
    extension: str = "1m"


@dataclass
class Worked:
    """What the simulated staff did, by action."""

    actions: dict[str, int] = field(default_factory=dict)
    refused: int = 0  # transitions the API refused (409/422: the case moved meanwhile)

    def count(self, action: str, status: int) -> None:
        """Count one transition posted with its answer."""
        if status == HTTP_OK:
            self.actions[action] = self.actions.get(action, 0) + 1
        else:
            self.refused += 1


def after_photo() -> bytes:
    """A tiny PNG: the proof of the work that the rules ask for before resolving."""
    out = io.BytesIO()
    Image.new("RGB", (8, 6), "white").save(out, "PNG")
    return out.getvalue()


class Casework:
    """The staff of one district, working its cases through the API each round."""

    def __init__(
        self,
        client: httpx.Client,
        headers: Callable[[str], dict[str, str]],
        rng: random.Random,
        *,
        district: str,
        supervisor: str,
        units: dict[str, str],
        habits: Habits = Habits(),
    ) -> None:
        self.client = client
        self.headers = headers
        self.rng = rng
        self.district = district
        self.supervisor = supervisor
        self.units = units  # responsible unit → the user who answers for it
        self.habits = habits
        self.worked = Worked()
        self._photo = after_photo()

    def run(self, stop: threading.Event, every_s: float = 1.5) -> Worked:
        """Work a round every ``every_s`` until ``stop``; an unreachable API is waited for."""
        while not stop.is_set():
            try:
                self.round()
            except httpx.HTTPError as exc:
                log.info("casework: API unavailable (%s); next round later", exc)
            stop.wait(every_s)
        return self.worked

    def round(self) -> None:
        """Look at every open case of the district once."""
        for case in self._cases("reported"):
            self._take_in(case)
        for case in self._cases("filed"):
            self._dispatch(case)
        for case in self._cases("dispatched"):
            self._sign(case)
        for case in self._cases("in_progress"):
            self._fix(case)
        for case in self._cases("resolved"):
            self._verify(case)

    def _cases(self, state: str) -> list[dict[str, Any]]:
        response = self.client.get(
            "/v1/cases",
            params={"state": state, "area": self.district, "limit": 500},
            headers=self.headers(self.supervisor),
        )
        response.raise_for_status()
        cases: list[dict[str, Any]] = response.json()["cases"]
        habits = self.habits
        ours = [c for c in cases if str(c["reporter"]).startswith(SIMULATED)]  # a case made by hand is left to people
        return [c for c in ours if self.rng.random() < (habits.act_escalated if c["escalations"] else habits.act)]

    def _act(self, case: dict[str, Any], user: str, action: str, **body: Any) -> int:
        response = self.client.post(
            f"/v1/cases/{case['id']}/transitions", json={"action": action, **body}, headers=self.headers(user)
        )
        self.worked.count(action, response.status_code)
        return response.status_code

    def _holder(self, case: dict[str, Any]) -> str:
        """Who holds the case: its assignee, else the user of its unit, else the supervisor."""
        if case["assignee"]:
            return str(case["assignee"])
        if case["level"] == "department" and case["department"] in self.units:
            return self.units[case["department"]]
        return self.supervisor

    def _take_in(self, case: dict[str, Any]) -> None:
        habits, roll = self.habits, self.rng.random()
        if case["request_kind"] is not None:
            return
        if roll < habits.refuse:
            self._act(case, self.supervisor, "refuse", note="不属于受理范围（模拟）")
        elif roll < habits.refuse + habits.void:
            self._act(case, self.supervisor, "void", note="信息不全，无法核实（模拟）")
        elif roll < habits.refuse + habits.void + habits.merge and (into := self._duplicate_of(case)):
            self._act(case, self.supervisor, "merge", note="同一问题重复上报（模拟）", into=into)
        else:
            self._dispatch(case)

    def _duplicate_of(self, case: dict[str, Any]) -> str | None:
        response = self.client.get(f"/v1/cases/{case['id']}/duplicates", headers=self.headers(self.supervisor))
        candidates = response.json().get("candidates", []) if response.status_code == HTTP_OK else []
        return str(candidates[0]["id"]) if candidates else None

    def _dispatch(self, case: dict[str, Any]) -> None:
        if self.rng.random() < self.habits.to_gridworker and case["grid_code"]:
            self._act(case, self.supervisor, "dispatch", assignee=sim_gridworker(case["grid_code"]))
        else:
            self._act(case, self.supervisor, "dispatch")

    def _sign(self, case: dict[str, Any]) -> None:
        holder = self._holder(case)
        if case["level"] == "department" and self.rng.random() < self.habits.decline:
            self._act(case, holder, "decline", note="不属于本单位职责（模拟）")
        else:
            self._act(case, holder, "accept")

    def _fix(self, case: dict[str, Any]) -> None:
        holder = self._holder(case)
        if case["request_kind"] is not None:
            decision = "approve" if self.rng.random() < self.habits.approve else "refuse_request"
            note = "" if decision == "approve" else "按原时限办理（模拟）"
            self._act(case, self.supervisor, decision, note=note)
            return
        if case["extensions"] == 0 and self.rng.random() < self.habits.extend:
            self._act(case, holder, "extend", note="需协调物业（模拟）", length=self.habits.extension)
            return
        if case["level"] in WHISTLED_FROM and self.rng.random() < self.habits.whistle:
            self._act(case, holder, "escalate", note="网格内无法解决，吹哨上报（模拟）")
            return
        photo = self.client.post(
            f"/v1/events/{case['id']}/photos",
            params={"stage": "after"},
            content=self._photo,
            headers=self.headers(holder) | {"Content-Type": "image/png"},
        )
        if photo.status_code in (200, 201):
            self._act(case, holder, "resolve", note="已处置（模拟）")

    def _verify(self, case: dict[str, Any]) -> None:
        if self.rng.random() < self.habits.rework:
            self._act(case, self.supervisor, "reject_resolution", note="未处理到位，返工（模拟）")
        else:
            self._act(case, self.supervisor, "verify", note="核查通过（模拟）")
