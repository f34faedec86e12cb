"""A Prefect server that refuses a write for a moment (503, SQLite busy) is asked again
within milliseconds, below the Prefect client, whose own back-off starts at 2 s."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.context import get_settings_context
from prefect.settings import (
    PREFECT_CLIENT_CSRF_SUPPORT_ENABLED,
    PREFECT_CLIENT_MAX_RETRIES,
    temporary_settings,
)

from tasks.prefect_api import QuickRetries, quick_retries


class Refusing(ThreadingHTTPServer):
    """Answers 503 to the first `refuse` requests, then 200 with the body it was sent."""

    def __init__(self, refuse: int) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.refuse = refuse
        self.bodies: list[bytes] = []


class Handler(BaseHTTPRequestHandler):
    server: Refusing

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.bodies.append(body)
        refused = len(self.server.bodies) <= self.server.refuse
        reply = b'{"detail": "database is locked"}' if refused else body
        self.send_response(503 if refused else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def refusing() -> Iterator[callable]:
    servers: list[Refusing] = []

    def start(refuse: int) -> Refusing:
        server = Refusing(refuse)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _client(server: Refusing) -> SyncPrefectClient:
    return SyncPrefectClient(f"http://127.0.0.1:{server.server_address[1]}/api")


def test_a_passing_refusal_is_asked_again_below_the_prefect_client(refusing) -> None:
    server = refusing(refuse=3)
    # The Prefect client may not retry at all: the answer can only come from the transport.
    only_once = {PREFECT_CLIENT_MAX_RETRIES: 0, PREFECT_CLIENT_CSRF_SUPPORT_ENABLED: False}
    with temporary_settings(only_once), _client(server) as client:
        quick_retries(client)
        quick_retries(client)  # a second call changes nothing
        answer = client.request("POST", "/variables/filter", json={"limit": 1})
        transport = client._client._transport
    assert answer.status_code == 200
    assert answer.json() == {"limit": 1}  # the same request, body and all, sent again
    assert server.bodies == [b'{"limit":1}'] * 4
    assert isinstance(transport, QuickRetries) and not isinstance(transport.inner, QuickRetries)
    assert transport.refusals == 3


def test_a_server_that_keeps_refusing_gets_its_answer_to_the_client(refusing) -> None:
    import httpx

    server = refusing(refuse=10**6)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    transport = QuickRetries(httpx.HTTPTransport(), within_s=0.3)
    with httpx.Client(transport=transport) as http:
        answer = http.post(url, json={"n": 1})
    assert answer.status_code == 503
    assert json.loads(answer.content) == {"detail": "database is locked"}
    assert len(server.bodies) >= 2  # asked again, then given up after `within_s`
    assert transport.refusals == len(server.bodies) - 1


def _has_quick_retries() -> bool:
    from prefect import get_client

    return isinstance(get_client(sync_client=True)._client._transport, QuickRetries)


def test_a_flow_run_and_its_task_runs_share_the_quick_retries(prefect_server: str) -> None:
    from prefect import flow, task
    from prefect.task_runners import ThreadPoolTaskRunner

    from tasks.prefect_api import quick_retries_for_this_run

    @task
    def in_a_task() -> bool:
        return _has_quick_retries()

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
    def probe() -> tuple[bool, bool, bool]:
        before = _has_quick_retries()
        quick_retries_for_this_run()
        return before, _has_quick_retries(), in_a_task.submit().result()

    assert probe() == (False, True, True)


def test_retried_calls_build_quiet_settings_once_not_per_call(monkeypatch) -> None:
    """Nested retried calls and calls from other threads reuse the settings without client
    retries; building them costs ~25 ms of CPU, which every call used to pay."""
    from prefect.settings.models.root import Settings

    from tasks import prefect_api

    built: list[object] = []
    copy = Settings.copy_with_update

    def counted(self, *args, **kwargs):
        built.append(self)
        return copy(self, *args, **kwargs)

    monkeypatch.setattr(Settings, "copy_with_update", counted)
    monkeypatch.setattr(prefect_api, "_quiet", {})
    seen: list[int] = []

    @prefect_api.retried(within_s=1)
    def inner() -> None:
        seen.append(get_settings_context().settings.client.max_retries)

    @prefect_api.retried(within_s=1)
    def outer() -> None:
        inner()

    for _ in range(20):
        outer()
    threads = [threading.Thread(target=lambda: [outer() for _ in range(20)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == [0] * 100, "every call ran without the client's own retries"
    # Once per settings object: the main thread's and (if it differs) the other threads'.
    assert len(built) == len({id(b) for b in built}) <= 2, f"built {len(built)} times"
