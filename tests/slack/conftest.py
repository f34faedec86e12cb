"""Slack test fixtures: a fake Slack, a real Prefect (test harness) and tiny gated flows."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.context import get_run_context
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from pydantic import SecretStr

from deployments.slack_listener import (
    ApprovalListener,
    PrefectRuns,
    build_listener,
    http_app,
    socket_mode_client,
)
from novaflow.slack import SlackGate, SlackSettings, web_client
from tests.fakeslack import FakeSlack, ServerThread

ALICE = "U0ALICE"  # listed approver
BOB = "U0BOB"  # approver through the on-call user group
MALLORY = "U0MALLORY"  # not an approver
ONCALL = "S0ONCALL"
CHANNEL = "C0OPS"
REPO = Path(__file__).resolve().parents[2]


class GateInput(RunInput):
    """Stands in for a gate's Resume form (tasks/gates.py) with the keys the listener sends:
    the answer (approved, comment, fenced) and what novaflow records (approver, via)."""

    approved: bool
    comment: str = ""
    fenced: bool = False
    approver: str = ""
    via: str = "ui"


_STARTED: dict[str, UUID] = {}


@flow(persist_result=False)
def gated(token: str, keys: list[str]) -> list[dict[str, Any]]:
    """Pauses once per key, as a scenario flow does at its gates, and returns the decisions."""
    _STARTED[token] = get_run_context().flow_run.id
    decisions = []
    for key in keys:
        answer = pause_flow_run(wait_for_input=GateInput, timeout=60, poll_interval=1, key=key)
        decisions.append(answer.model_dump(include=set(GateInput.model_fields)))
    return decisions


class GatedRun:
    """A `gated` flow running in a thread, as a worker would run it."""

    def __init__(self, keys: list[str]) -> None:
        self.token = uuid.uuid4().hex
        self.result: list[dict[str, Any]] | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(keys,), daemon=True)
        self._thread.start()
        self.id = self._wait(lambda: _STARTED.get(self.token), "flow run did not start")

    def _run(self, keys: list[str]) -> None:
        try:
            self.result = gated(self.token, keys)
        except BaseException as exc:
            self.error = exc

    @staticmethod
    def _wait(probe: Any, what: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = probe()
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(what)

    def pause_key(self) -> str | None:
        """The gate the run waits at, or None when it is not paused."""
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(self.id).state
        return state.state_details.pause_key if state and state.is_paused() else None

    def wait_paused(self, key: str) -> None:
        self._wait(lambda: self.pause_key() == key, f"run not paused at {key}")

    def finish(self, timeout: float = 30) -> list[dict[str, Any]]:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "flow run did not finish"
        assert self.error is None, self.error
        assert self.result is not None
        return self.result


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    users = {ALICE: "Alice Approver", BOB: "Bob Oncall", MALLORY: "Mallory Intruder"}
    with FakeSlack(users=users, groups={ONCALL: [BOB]}) as fake_slack:
        yield fake_slack


@pytest.fixture
def settings(fake: FakeSlack) -> SlackSettings:
    return SlackSettings(
        bot_token=SecretStr(fake.bot_token),
        app_token=SecretStr(fake.app_token),
        signing_secret=SecretStr(fake.signing_secret),
        channel=CHANNEL,
        approvers=[ALICE],
        approver_group=ONCALL,
        base_url=fake.api_url,
    )


@pytest.fixture
def gate(settings: SlackSettings) -> SlackGate:
    """What a flow uses to post its gate message."""
    return SlackGate(web_client(settings), CHANNEL)


class CountingRuns(PrefectRuns):
    """The real Prefect RunControl, counting resumes so tests can prove 'exactly once'."""

    def __init__(self) -> None:
        self.resumed: list[UUID] = []

    def resume(self, flow_run_id: UUID, run_input: dict[str, Any]) -> None:
        self.resumed.append(flow_run_id)
        super().resume(flow_run_id, run_input)


@pytest.fixture
def runs() -> CountingRuns:
    return CountingRuns()


@pytest.fixture
def listener(settings: SlackSettings, runs: CountingRuns, prefect_api: None) -> ApprovalListener:
    return build_listener(settings, runs)


@pytest.fixture
def socket_listener(
    listener: ApprovalListener, settings: SlackSettings, fake: FakeSlack
) -> Iterator[ApprovalListener]:
    client = socket_mode_client(listener, settings)
    client.connect()
    fake.wait_connected()
    yield listener
    client.close()


@pytest.fixture
def http_listener(listener: ApprovalListener, settings: SlackSettings) -> Iterator[str]:
    server = ServerThread(http_app(listener, settings)).start()
    yield server.url + "/slack/actions"
    server.stop()
