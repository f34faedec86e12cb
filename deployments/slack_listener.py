"""The Slack approval listener: turns an authorised Approve / Reject click into a resumed run.

One core, `ApprovalListener.handle_block_action`, behind two transports: Socket Mode (no public
URL needed) and an HTTP interactivity endpoint that verifies Slack's request signatures.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import parse_qs
from uuid import UUID

from fastapi import BackgroundTasks, FastAPI, Request, Response
from prefect.client.orchestration import get_client
from prefect.exceptions import FlowPauseTimeout, NotPausedError
from prefect.flow_runs import resume_flow_run
from prefect.states import Crashed
from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from novaflow.gates import gate_alive
from novaflow.models import ApprovalDecision
from novaflow.slack import (
    APPROVE_ACTION,
    COMMENT_ACTION,
    COMMENT_BLOCK,
    FENCED_ACTION,
    FENCED_BLOCK,
    FENCED_VALUE,
    REJECT_ACTION,
    GateRef,
    SlackConfigError,
    SlackGate,
    SlackSettings,
    sdk_logger,
    secret_block_name,
)

log = logging.getLogger("novaflow.slack.listener")

Outcome = Literal["resumed", "refused", "duplicate", "stale", "ignored", "failed"]


@dataclass(frozen=True)
class ActionResult:
    """What the listener did with one click, for logs and tests."""

    outcome: Outcome
    detail: str = ""


@dataclass(frozen=True)
class GateState:
    """Where a flow run stands, as far as a gate is concerned."""

    paused: bool
    pause_key: str | None
    state_name: str
    alive: bool | None = None
    """Is the process waiting at the gate still there (None: the run does not say)."""


class RunControl(Protocol):
    """The two things the listener needs from Prefect; a protocol so it can be swapped."""

    def gate_state(self, flow_run_id: UUID) -> GateState | None: ...

    def resume(self, flow_run_id: UUID, run_input: dict[str, Any]) -> None: ...

    def abandon(self, flow_run_id: UUID, message: str) -> None: ...


class PrefectRuns:
    """RunControl on the configured Prefect API (PREFECT_API_URL)."""

    def gate_state(self, flow_run_id: UUID) -> GateState | None:
        with get_client(sync_client=True) as client:
            try:
                run = client.read_flow_run(flow_run_id)
            except Exception:  # ObjectNotFound or an unreachable API: nothing to resume
                log.warning("flow run %s could not be read from Prefect", flow_run_id)
                return None
        state = run.state
        if state is None:
            return GateState(False, None, "unknown")
        return GateState(
            state.is_paused(),
            state.state_details.pause_key,
            state.name or "",
            gate_alive(run.labels or {}) if state.is_paused() else None,
        )

    def resume(self, flow_run_id: UUID, run_input: dict[str, Any]) -> None:
        resume_flow_run(flow_run_id, run_input=run_input)

    def abandon(self, flow_run_id: UUID, message: str) -> None:
        """End a paused run whose process is gone, so no one resumes it into nothing."""
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(flow_run_id, Crashed(message=message), force=True)


class Approvers:
    """Who may decide: listed user ids, or members of a Slack user group (cached briefly)."""

    def __init__(
        self, client: WebClient, user_ids: list[str], group: str | None, ttl: float = 60
    ) -> None:
        self.client = client
        self.user_ids = set(user_ids)
        self.group = group
        self.ttl = ttl
        self._members: set[str] = set()
        self._fetched_at = float("-inf")

    def allows(self, user_id: str) -> bool:
        if user_id in self.user_ids:
            return True
        return bool(self.group) and user_id in self._group_members()

    def _group_members(self) -> set[str]:
        if time.monotonic() - self._fetched_at > self.ttl:
            try:
                resp = self.client.usergroups_users_list(usergroup=self.group)
                self._members = set(resp.get("users") or [])
                self._fetched_at = time.monotonic()
            except SlackApiError as exc:
                # Fail closed: an unreadable group grants nobody.
                log.error("cannot read approver group %s: %s", self.group, exc.response["error"])
                return set()
        return self._members


def _selected_fenced(payload: dict[str, Any]) -> bool:
    values = payload.get("state", {}).get("values", {})
    box = values.get(FENCED_BLOCK, {}).get(FENCED_ACTION, {})
    return any(opt.get("value") == FENCED_VALUE for opt in box.get("selected_options") or [])


def _comment(payload: dict[str, Any]) -> str:
    values = payload.get("state", {}).get("values", {})
    return (values.get(COMMENT_BLOCK, {}).get(COMMENT_ACTION, {}).get("value") or "").strip()


def _message_ts(payload: dict[str, Any]) -> str:
    return str(
        payload.get("container", {}).get("message_ts") or payload.get("message", {}).get("ts")
    )


def _channel_id(payload: dict[str, Any]) -> str:
    return str(
        payload.get("channel", {}).get("id") or payload.get("container", {}).get("channel_id")
    )


class ApprovalListener:
    """Decides what a click does; safe against double clicks, retries and old messages.

    A click resumes a run only when (1) its action was not handled before in this process,
    (2) the user is an approver, (3) an evacuation approval has 'the node is fenced' ticked,
    and (4) Prefect says the run is paused at exactly the gate the button names.
    """

    def __init__(
        self,
        gate: SlackGate,
        approvers: Approvers,
        runs: RunControl | None = None,
        name_of: Callable[[str], str] | None = None,
        pause_grace_s: float = 5.0,
    ) -> None:
        self.gate = gate
        self.pause_grace_s = pause_grace_s
        self.approvers = approvers
        self.runs = runs or PrefectRuns()
        self._name_of = name_of or self._slack_name
        self._lock = threading.Lock()
        self._handled: set[str] = set()
        self._decided: set[tuple[str, str]] = set()

    def _slack_name(self, user_id: str) -> str:
        try:
            user = self.gate.client.users_info(user=user_id)["user"]
            return str(user.get("real_name") or user.get("name") or user_id)
        except SlackApiError:
            return user_id

    def _reply(self, payload: dict[str, Any], text: str) -> None:
        try:
            self.gate.post_ephemeral(_channel_id(payload), payload["user"]["id"], text)
        except SlackApiError as exc:
            log.warning("ephemeral reply failed: %s", exc.response.get("error"))

    def _first_seen(self, payload: dict[str, Any], action: dict[str, Any]) -> bool:
        """Slack redelivers the same action (same action_ts) on retries; handle it once."""
        key = f"{_message_ts(payload)}/{action.get('action_ts')}/{payload['user']['id']}"
        with self._lock:
            if key in self._handled:
                return False
            self._handled.add(key)
            return True

    def handle_block_action(self, payload: dict[str, Any]) -> ActionResult:
        """Handle one block_actions payload (from either transport)."""
        if payload.get("type") != "block_actions":
            return ActionResult("ignored", f"payload type {payload.get('type')!r}")
        action = next(
            (
                a
                for a in payload.get("actions", [])
                if a.get("action_id") in (APPROVE_ACTION, REJECT_ACTION)
            ),
            None,
        )
        if action is None:
            return ActionResult("ignored", "not a gate button")
        try:
            ref = GateRef.from_value(str(action.get("value", "")))
        except ValueError as exc:
            log.warning("ignored click: %s", exc)
            return ActionResult("ignored", str(exc))
        if not self._first_seen(payload, action):
            log.info("duplicate delivery of a click on run %s ignored", ref.run)
            return ActionResult("duplicate", "already handled")
        return self._decide(payload, ref, approve=action["action_id"] == APPROVE_ACTION)

    def _decide(self, payload: dict[str, Any], ref: GateRef, approve: bool) -> ActionResult:
        user_id = str(payload["user"]["id"])
        if not self.approvers.allows(user_id):
            log.warning(
                "refused: %s is not an approver (run %s, gate %s)", user_id, ref.run, ref.gate
            )
            self._reply(payload, "You are not an approver for novaflow gates; nothing was done.")
            return ActionResult("refused", f"{user_id} is not an approver")
        fenced = _selected_fenced(payload)
        if approve and ref.fence and not fenced:
            self._reply(
                payload,
                "Tick 'the node is fenced' first: evacuating a live node corrupts "
                "its instances. Nothing was done.",
            )
            return ActionResult("refused", "fencing not confirmed")
        decision = ApprovalDecision(
            approved=approve,
            comment=_comment(payload),
            fenced=fenced,
            approver=f"{user_id} ({self._name_of(user_id)})",
            via="slack",
        )
        result = self._resume(payload, ref, decision)
        if result.outcome == "resumed":
            self._mark(payload, decision)
        return result

    def _wait_for_pause(self, run_id: UUID, gate: str) -> None:
        """A run posts its gate message just before it pauses, so a quick click can arrive
        while it is still Running: give it a moment to reach the gate rather than call the
        click stale."""
        deadline = time.monotonic() + self.pause_grace_s
        while time.monotonic() < deadline:
            with self._lock:
                if (str(run_id), gate) in self._decided:
                    return
            state = self.runs.gate_state(run_id)
            if state is None or state.paused or state.state_name not in ("Running", "Pending"):
                return
            time.sleep(0.2)

    def _resume(
        self, payload: dict[str, Any], ref: GateRef, decision: ApprovalDecision
    ) -> ActionResult:
        """Resume only a run paused at this very gate; serialised so racing clicks resume once."""
        run_id = UUID(ref.run)
        self._wait_for_pause(run_id, ref.gate)
        with self._lock:
            state = None if (ref.run, ref.gate) in self._decided else self.runs.gate_state(run_id)
            if state is None or not state.paused or state.pause_key != ref.gate:
                where = state.state_name if state else "already decided or unknown"
                log.info("stale click on run %s gate %s (run is %s)", ref.run, ref.gate, where)
                self._reply(
                    payload, f"This gate is no longer waiting (run is {where}); nothing was done."
                )
                return ActionResult("stale", where)
            if state.alive is False:
                return self._abandoned(payload, run_id, ref)
            try:
                self.runs.resume(run_id, decision.model_dump(mode="json"))
            except (NotPausedError, FlowPauseTimeout, RuntimeError) as exc:
                log.warning("could not resume run %s: %s", ref.run, exc)
                self._reply(payload, f"Could not resume the run: {exc}")
                return ActionResult("failed", str(exc))
            self._decided.add((ref.run, ref.gate))
        verdict = "approved" if decision.approved else "rejected"
        log.info("run %s gate %s %s by %s via slack", ref.run, ref.gate, verdict, decision.approver)
        return ActionResult("resumed", verdict)

    def _abandoned(self, payload: dict[str, Any], run_id: UUID, ref: GateRef) -> ActionResult:
        """The run waits at this gate but its process is gone: resuming it would leave it
        Running with nothing to run it. Say so, and end it so the UI offers no Resume."""
        message = (
            f"the process waiting at gate {ref.gate} is gone; nothing was done after the gate. "
            "Start the scenario again: it picks up where this run stopped."
        )
        log.warning("run %s: %s", ref.run, message)
        try:
            self.runs.abandon(run_id, message)
        except Exception as exc:  # the answer below matters more than the state
            log.warning("could not mark run %s crashed: %s", ref.run, exc)
        self._reply(payload, f"This run has lost its process: {message}")
        self._decided.add((ref.run, ref.gate))
        return ActionResult("stale", "process gone")

    def _mark(self, payload: dict[str, Any], decision: ApprovalDecision) -> None:
        try:
            self.gate.mark_decided(
                _message_ts(payload),
                decision,
                channel=_channel_id(payload),
                blocks=payload.get("message", {}).get("blocks"),
            )
        except SlackApiError as exc:
            log.warning("could not update the gate message: %s", exc.response.get("error"))


# ------------------------------------------------------------------------------ construction


def check_settings(settings: SlackSettings, socket: bool, http: bool) -> None:
    """Fail before listening when something needed is missing; names the variable."""
    settings.secret("bot_token")
    if socket:
        settings.secret("app_token")
    if http:
        settings.secret("signing_secret")
    if not settings.approvers and not settings.approver_group:
        raise SlackConfigError(
            "No approvers: set NOVAFLOW_SLACK_APPROVERS (user ids, comma separated) and/or "
            "NOVAFLOW_SLACK_APPROVER_GROUP (a user group id)."
        )


def build_listener(settings: SlackSettings, runs: RunControl | None = None) -> ApprovalListener:
    """The listener for these settings; checks the bot token with auth.test."""
    client = WebClient(
        token=settings.secret("bot_token"), base_url=settings.base_url, logger=sdk_logger(settings)
    )
    try:
        client.auth_test()
    except SlackApiError as exc:
        raise SlackConfigError(
            f"Slack refused NOVAFLOW_SLACK_BOT_TOKEN ({exc.response.get('error')})."
        ) from None
    gate = SlackGate(client, settings.channel or "")
    approvers = Approvers(client, settings.approvers, settings.approver_group)
    return ApprovalListener(gate, approvers, runs)


def socket_mode_client(listener: ApprovalListener, settings: SlackSettings) -> SocketModeClient:
    """A Socket Mode client that acks every envelope first, then handles interactive ones."""
    logger = sdk_logger(settings, "novaflow.slack.sdk.socket")
    client = SocketModeClient(
        app_token=settings.secret("app_token"),
        web_client=WebClient(base_url=settings.base_url, logger=sdk_logger(settings)),
        logger=logger,
    )

    def on_request(sock: SocketModeClient, req: SocketModeRequest) -> None:
        # Ack within Slack's 3 seconds whatever happens next, or Slack retries.
        sock.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
        if req.type != "interactive":
            return
        try:
            listener.handle_block_action(req.payload)
        except Exception:
            log.exception("click handling failed (envelope %s)", req.envelope_id)

    client.socket_mode_request_listeners.append(on_request)
    return client


class ReplayGuard:
    """Refuses a signed request seen before: the signature covers timestamp and body, and
    Slack's verifier accepts a request for 5 minutes, so a captured request could otherwise
    be sent again within that window. Signatures are kept for twice that window."""

    def __init__(self, window_s: float = 600) -> None:
        self.window_s = window_s
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_use(self, signature: str) -> bool:
        now = time.monotonic()
        with self._lock:
            self._seen = {s: t for s, t in self._seen.items() if now - t < self.window_s}
            if signature in self._seen:
                return False
            self._seen[signature] = now
            return True


def http_app(listener: ApprovalListener, settings: SlackSettings) -> FastAPI:
    """POST /slack/actions: verify the signature, answer 200 at once, handle in background."""
    verifier = SignatureVerifier(settings.secret("signing_secret"))
    replays = ReplayGuard()
    app = FastAPI(title="novaflow Slack approvals", docs_url=None, redoc_url=None)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/slack/actions")
    async def actions(request: Request, background: BackgroundTasks) -> Response:
        body = await request.body()
        if not verifier.is_valid_request(body, dict(request.headers)):
            log.warning("rejected an interactivity request: bad or stale signature")
            return Response("invalid signature", status_code=401)
        if not replays.first_use(request.headers.get("x-slack-signature", "")):
            log.warning("rejected an interactivity request: replayed signature")
            return Response("replayed request", status_code=401)
        try:
            payload = json.loads(parse_qs(body.decode())["payload"][0])
        except (KeyError, ValueError, UnicodeDecodeError):
            return Response("no payload", status_code=400)
        background.add_task(listener.handle_block_action, payload)
        return Response(status_code=200)

    return app


def settings_from_blocks(settings: SlackSettings) -> SlackSettings:
    """Fill secrets missing from the environment from Prefect Secret blocks.

    Blocks are named novaflow-slack-bot-token, -app-token, -signing-secret; env wins.
    """
    from prefect.blocks.system import Secret
    from prefect.exceptions import ObjectNotFound

    updates: dict[str, Any] = {}
    for field in ("bot_token", "app_token", "signing_secret"):
        if getattr(settings, field) is not None:
            continue
        try:
            updates[field] = SecretStr(str(Secret.load(secret_block_name(field)).get()))
        except (ValueError, ObjectNotFound):
            continue  # no such block: check_settings names the variable if it is needed
    return settings.model_copy(update=updates) if updates else settings
