"""A local fake of Slack on 127.0.0.1: the Web API over HTTP and Socket Mode over a WebSocket.

The real slack_sdk clients run unchanged against it (`WebClient(base_url=fake.api_url)`,
`SocketModeClient(app_token, web_client=...)`). It records every Web API call, checks bearer
tokens, keeps posted messages so updates and clicks see real message content, and pushes
`block_actions` clicks to a listener over Socket Mode or as a signed HTTP POST.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import uvicorn
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

APPROVE = "novaflow_approve"
REJECT = "novaflow_reject"
BOT_METHODS = {
    "auth.test",
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "usergroups.users.list",
    "users.info",
}


class ServerThread:
    """Runs an ASGI app with uvicorn on 127.0.0.1, a free port, in a daemon thread."""

    def __init__(self, app: Any) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="websockets-sansio")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self, timeout: float = 10) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


@dataclass
class Call:
    """One Web API call as the fake received it."""

    method: str
    args: dict[str, Any]
    token: str | None


@dataclass
class _Socket:
    ws: WebSocket
    loop: asyncio.AbstractEventLoop


@dataclass
class FakeSlack:
    """Fake Slack workspace. Use as a context manager; `url` is its base URL."""

    bot_token: str = "xoxb-fake-bot-token-0001"
    app_token: str = "xapp-fake-app-token-0001"
    signing_secret: str = "fake-signing-secret-0001"
    users: dict[str, str] = field(default_factory=dict)
    """user id -> real name, answered by users.info."""
    groups: dict[str, list[str]] = field(default_factory=dict)
    """user group id -> member ids, answered by usergroups.users.list."""

    def __post_init__(self) -> None:
        self.calls: list[Call] = []
        self.messages: dict[str, dict[str, Any]] = {}
        self.acks: set[str] = set()
        self.hellos = 0
        self._cond = threading.Condition()
        self._socket: _Socket | None = None
        self._ts = itertools.count(1)
        self.app = self._build_app()
        self._server = ServerThread(self.app)
        self.url = self._server.url
        self.api_url = self.url + "/api/"

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> FakeSlack:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def reset(self) -> None:
        """Forget recorded calls, messages and acks (the connection stays)."""
        with self._cond:
            self.calls.clear()
            self.messages.clear()
            self.acks.clear()

    # ------------------------------------------------------------------ Web API

    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.api_route("/api/{method}", methods=["GET", "POST"])
        async def api(method: str, request: Request) -> JSONResponse:
            args = await _request_args(request)
            token = _bearer(request) or args.pop("token", None)
            args.pop("token", None)
            with self._cond:
                self.calls.append(Call(method, args, token))
                body = self._answer(method, args, token)
                self._cond.notify_all()
            return JSONResponse(body)

        @app.websocket("/link/")
        async def link(ws: WebSocket) -> None:
            await ws.accept()
            with self._cond:
                self._socket = _Socket(ws, asyncio.get_running_loop())
                self.hellos += 1
                self._cond.notify_all()
            await ws.send_text(json.dumps(_hello()))
            try:
                while True:
                    self._on_frame(await ws.receive_text())
            except WebSocketDisconnect:
                with self._cond:
                    if self._socket and self._socket.ws is ws:
                        self._socket = None

        return app

    def _answer(self, method: str, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        if token is None:
            return {"ok": False, "error": "not_authed"}
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if method not in BOT_METHODS and method != "apps.connections.open":
            return {"ok": False, "error": "unknown_method"}
        if token != expected:
            return {"ok": False, "error": "invalid_auth"}
        handler: Callable[[dict[str, Any]], dict[str, Any]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._ephemeral,
            "usergroups.users.list": self._group_users,
            "users.info": self._user_info,
            "apps.connections.open": self._connections_open,
        }[method]
        return handler(args)

    def _next_ts(self) -> str:
        n = next(self._ts)
        return f"{1_700_000_000 + n}.{n:06d}"

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake.slack.invalid/",
            "team": "Fake",
            "user": "novaflow",
            "team_id": "T0FAKE",
            "user_id": "U0BOT",
            "bot_id": "B0BOT",
        }

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        refused = blocks_refused(_maybe_json(args.get("blocks")) or [])
        if refused:
            return {"ok": False, "error": "invalid_blocks", "errors": [refused]}
        ts = self._next_ts()
        message = {
            "type": "message",
            "user": "U0BOT",
            "bot_id": "B0BOT",
            "ts": ts,
            "text": args.get("text", ""),
            "blocks": _maybe_json(args.get("blocks")) or [],
            "channel": channel,
        }
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        self.messages[ts] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": _public(message)}

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get(str(args.get("ts")))
        if message is None or message["channel"] != args.get("channel"):
            return {"ok": False, "error": "message_not_found"}
        refused = blocks_refused(_maybe_json(args.get("blocks")) or [])
        if refused:
            return {"ok": False, "error": "invalid_blocks", "errors": [refused]}
        message["text"] = args.get("text", message["text"])
        if "blocks" in args:
            message["blocks"] = _maybe_json(args["blocks"]) or []
        return {
            "ok": True,
            "channel": message["channel"],
            "ts": message["ts"],
            "text": message["text"],
            "message": _public(message),
        }

    def _ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel") or not args.get("user"):
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True, "message_ts": self._next_ts()}

    def _group_users(self, args: dict[str, Any]) -> dict[str, Any]:
        members = self.groups.get(str(args.get("usergroup")))
        if members is None:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(members)}

    def _user_info(self, args: dict[str, Any]) -> dict[str, Any]:
        uid = str(args.get("user"))
        if uid not in self.users:
            return {"ok": False, "error": "user_not_found"}
        name = self.users[uid]
        handle = name.split()[0].lower()
        return {
            "ok": True,
            "user": {
                "id": uid,
                "name": handle,
                "real_name": name,
                "profile": {"real_name": name, "display_name": handle},
            },
        }

    def _connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        ws_url = self.url.replace("http://", "ws://")
        return {"ok": True, "url": f"{ws_url}/link/?ticket={uuid.uuid4()}"}

    # ------------------------------------------------------------------ Socket Mode

    def _on_frame(self, text: str) -> None:
        try:
            frame = json.loads(text)
        except ValueError:
            return
        if isinstance(frame, dict) and "envelope_id" in frame:
            with self._cond:
                self.acks.add(frame["envelope_id"])
                self._cond.notify_all()

    def wait_connected(self, timeout: float = 10) -> None:
        """Block until a Socket Mode client is connected (it got its hello)."""
        self._wait(lambda: self._socket is not None, timeout, "no Socket Mode connection")

    def send_interactive(self, payload: dict[str, Any], retry_attempt: int = 0) -> str:
        """Push an `interactive` envelope over Socket Mode; returns its envelope_id."""
        self.wait_connected()
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": "interactive",
            "accepts_response_payload": False,
            "retry_attempt": retry_attempt,
            "retry_reason": "timeout" if retry_attempt else "",
            "payload": payload,
        }
        sock = self._socket
        assert sock is not None
        future = asyncio.run_coroutine_threadsafe(
            sock.ws.send_text(json.dumps(envelope)), sock.loop
        )
        future.result(timeout=5)
        return envelope_id

    def wait_ack(self, envelope_id: str, timeout: float = 5) -> None:
        self._wait(lambda: envelope_id in self.acks, timeout, f"no ack for {envelope_id}")

    # ------------------------------------------------------------------ clicks

    def block_actions_payload(
        self,
        user_id: str,
        action_id: str,
        value: str,
        message_ts: str,
        fenced: bool = False,
        comment: str = "",
    ) -> dict[str, Any]:
        """A block_actions payload as Slack sends it for a button click on a posted message."""
        message = self.messages.get(message_ts, {"ts": message_ts, "blocks": [], "channel": "C0"})
        channel = message["channel"]
        values: dict[str, Any] = {
            "novaflow_comment": {"comment": {"type": "plain_text_input", "value": comment or None}}
        }
        if any(b.get("block_id") == "novaflow_fenced" for b in message["blocks"]) or fenced:
            selected = [{"value": "fenced"}] if fenced else []
            values["novaflow_fenced"] = {
                "fenced": {"type": "checkboxes", "selected_options": selected}
            }
        name = self.users.get(user_id, user_id).split()[0].lower()
        now = f"{time.time():.6f}"
        return {
            "type": "block_actions",
            "user": {"id": user_id, "username": name, "name": name, "team_id": "T0FAKE"},
            "api_app_id": "A0FAKE",
            "token": "legacy-verification-token",
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel,
                "is_ephemeral": False,
            },
            "trigger_id": f"{uuid.uuid4().int % 10**12}.{now}",
            "team": {"id": "T0FAKE", "domain": "fake"},
            "channel": {"id": channel, "name": "ops"},
            "message": _public(message),
            "state": {"values": values},
            "response_url": "https://hooks.slack.invalid/actions/T0FAKE/1/x",
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "novaflow_gate_actions",
                    "type": "button",
                    "value": value,
                    "action_ts": now,
                    "text": {"type": "plain_text", "text": action_id},
                }
            ],
        }

    def button_value(self, message_ts: str, action_id: str = APPROVE) -> str:
        """The value of a button on a posted message (what Slack sends back on click)."""
        for block in self.messages[message_ts]["blocks"]:
            for element in block.get("elements", []):
                if element.get("action_id") == action_id:
                    return str(element["value"])
        raise KeyError(f"no {action_id} button on message {message_ts}")

    def click(
        self,
        user_id: str,
        action_id: str,
        value: str,
        message_ts: str,
        fenced: bool = False,
        comment: str = "",
        listener_url: str | None = None,
    ) -> dict[str, Any]:
        """Click a button: over Socket Mode (waits for the ack), or signed HTTP to listener_url.

        Returns the payload sent, so a test can deliver it again (a retried delivery).
        """
        payload = self.block_actions_payload(user_id, action_id, value, message_ts, fenced, comment)
        if listener_url is None:
            self.wait_ack(self.send_interactive(payload))
        else:
            response = self.post_signed(listener_url, payload)
            assert response.status_code == 200, response.text
        return payload

    def sign(self, body: bytes, timestamp: int | None = None, secret: str | None = None) -> dict:
        """Slack's v0 request signature headers for `body`."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        key = (secret or self.signing_secret).encode()
        digest = hmac.new(key, b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}

    def post_signed(
        self,
        listener_url: str,
        payload: dict[str, Any],
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> httpx.Response:
        """POST an interactivity payload as Slack does: form field `payload`, signed."""
        body = urlencode({"payload": json.dumps(payload)}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        headers.update(self.sign(body, timestamp, secret))
        return httpx.post(listener_url, content=body, headers=headers, timeout=10)

    # ------------------------------------------------------------------ assertions

    def calls_to(self, method: str) -> list[Call]:
        with self._cond:
            return [c for c in self.calls if c.method == method]

    def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] = lambda c: True,
        timeout: float = 10,
    ) -> Call:
        """The first call to `method` matching `predicate`, waiting for it if need be."""
        found: list[Call] = []

        def match() -> bool:
            found[:] = [c for c in self.calls if c.method == method and predicate(c)]
            return bool(found)

        self._wait(match, timeout, f"no matching {method} call")
        return found[0]

    def _wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        with self._cond:
            if not self._cond.wait_for(condition, timeout=timeout):
                raise TimeoutError(what)


LIMITS = {"blocks": 50, "header": 150, "section": 3000, "field": 2000, "fields": 10}
"""Slack's Block Kit limits (api.slack.com/reference/block-kit/blocks): past any of them
Slack refuses the whole message with `invalid_blocks`, and so does this fake."""


def blocks_refused(blocks: list[dict[str, Any]]) -> str | None:
    """Why Slack would refuse these blocks, or None when it would accept them."""
    if len(blocks) > LIMITS["blocks"]:
        return f"more than {LIMITS['blocks']} blocks ({len(blocks)})"
    for n, block in enumerate(blocks):
        text = (block.get("text") or {}).get("text") or ""
        kind = block.get("type")
        if kind == "header" and len(text) > LIMITS["header"]:
            return f"block {n}: header text over {LIMITS['header']} characters ({len(text)})"
        if kind == "section" and len(text) > LIMITS["section"]:
            return f"block {n}: section text over {LIMITS['section']} characters ({len(text)})"
        fields = block.get("fields") or []
        if len(fields) > LIMITS["fields"]:
            return f"block {n}: more than {LIMITS['fields']} fields ({len(fields)})"
        for f in fields:
            if len(f.get("text") or "") > LIMITS["field"]:
                return f"block {n}: a field over {LIMITS['field']} characters"
        for element in block.get("elements") or []:
            if kind == "context" and len(element.get("text") or "") > LIMITS["section"]:
                return f"block {n}: context text over {LIMITS['section']} characters"
    return None


def _hello() -> dict[str, Any]:
    return {
        "type": "hello",
        "num_connections": 1,
        "debug_info": {"host": "fake-slack", "approximate_connection_time": 3600},
        "connection_info": {"app_id": "A0FAKE"},
    }


def _public(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k != "channel"}


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    return auth[7:] if auth.lower().startswith("bearer ") else None


async def _request_args(request: Request) -> dict[str, Any]:
    """Slack methods accept query params, form bodies or JSON bodies; merge them all."""
    args: dict[str, Any] = dict(request.query_params)
    raw = await request.body()
    if not raw:
        return args
    if "json" in request.headers.get("content-type", ""):
        body = json.loads(raw)
        if isinstance(body, dict):
            args.update(body)
    else:
        args.update(parse_qsl(raw.decode()))
    return args
