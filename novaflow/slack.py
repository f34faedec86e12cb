"""Slack messages for approval gates: settings, Block Kit builders and the WebClient wrapper.

Pure functions build every message so their content is unit-testable without Slack; `SlackGate`
only sends them. Nothing here imports Prefect: the flows call `SlackGate`, the listener in
`deployments/` turns clicks into resumed runs.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from slack_sdk import WebClient

from novaflow.gates import Gate, host_list
from novaflow.models import ApprovalDecision, Outcome, Plan

log = logging.getLogger(__name__)

ENV_PREFIX = "NOVAFLOW_SLACK_"
DEFAULT_BASE_URL = "https://slack.com/api/"
DEFAULT_GATE_KEY = "approval"
"""The gate key a flow should pass as `key=` to pause_flow_run / suspend_flow_run."""

APPROVE_ACTION = "novaflow_approve"
REJECT_ACTION = "novaflow_reject"
FENCED_BLOCK = "novaflow_fenced"
FENCED_ACTION = "fenced"
FENCED_VALUE = "fenced"
COMMENT_BLOCK = "novaflow_comment"
COMMENT_ACTION = "comment"
ACTIONS_BLOCK = "novaflow_gate_actions"
DECISION_BLOCK = "novaflow_decision"

_MAX_LINES = 15  # Slack caps a section at 3000 characters; long plans are summarised.

# Slack's Block Kit limits: a message over any of them is refused with `invalid_blocks`.
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
FIELDS_MAX = 10
BLOCKS_MAX = 50
HEADER_TEXT_MAX = 150


class SlackConfigError(RuntimeError):
    """Slack is not configured well enough to do what was asked; names the variable to set."""


class SlackSettings(BaseSettings):
    """Slack configuration from NOVAFLOW_SLACK_* environment variables.

    Tokens are SecretStr so that a repr, a log line or a validation error never shows them.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    bot_token: SecretStr | None = Field(None, description="xoxb- bot token (chat:write...).")
    app_token: SecretStr | None = Field(None, description="xapp- app token for Socket Mode.")
    signing_secret: SecretStr | None = Field(None, description="Verifies HTTP interactivity.")
    channel: str | None = Field(None, description="Channel id where gates are posted.")
    approvers: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Slack user ids allowed to decide (comma list)."
    )
    approver_group: str | None = Field(None, description="Slack user group id of approvers.")
    base_url: str = Field(DEFAULT_BASE_URL, description="Slack Web API base URL (tests: fake).")

    @field_validator("approvers", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("approver_group", "channel", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return value.strip() or None if isinstance(value, str) else value

    def secret(self, name: str) -> str:
        """The value of secret `name` (bot_token, app_token, signing_secret), or a clear error.

        The error names the environment variable, never a value.
        """
        value: SecretStr | None = getattr(self, name)
        if value is None or not value.get_secret_value().strip():
            var = ENV_PREFIX + name.upper()
            raise SlackConfigError(
                f"{var} is not set: set it in the environment (or the Prefect Secret block "
                f"'{secret_block_name(name)}'); see docs/slack.md."
            )
        return value.get_secret_value().strip()

    def require_channel(self) -> str:
        if not self.channel:
            raise SlackConfigError(
                f"{ENV_PREFIX}CHANNEL is not set: set it to the channel id (C...) for gates."
            )
        return self.channel

    def secret_values(self) -> list[str]:
        """Every configured secret value, so log redaction knows what to hide."""
        out = []
        for field in ("bot_token", "app_token", "signing_secret"):
            value: SecretStr | None = getattr(self, field)
            if value is not None and value.get_secret_value():
                out.append(value.get_secret_value())
        return out


def secret_block_name(field: str) -> str:
    """The Prefect Secret block holding a Slack setting: novaflow-slack-bot-token etc."""
    return "novaflow-slack-" + field.replace("_", "-")


class RedactSecrets(logging.Filter):
    """Replaces secret values in log records; slack_sdk logs request bodies at DEBUG level.

    apps.connections.open carries the app token in its body, which WebClient logs verbatim.
    """

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(s in message for s in self._secrets):
            for s in self._secrets:
                message = message.replace(s, "[redacted]")
            record.msg, record.args = message, None
        return True


def sdk_logger(settings: SlackSettings, name: str = "novaflow.slack.sdk") -> logging.Logger:
    """A logger for slack_sdk clients that can never print one of our secrets."""
    logger = logging.getLogger(name)
    for old in [f for f in logger.filters if isinstance(f, RedactSecrets)]:
        logger.removeFilter(old)
    logger.addFilter(RedactSecrets(settings.secret_values()))
    return logger


def web_client(settings: SlackSettings) -> WebClient:
    """A WebClient on the bot token; fails clearly when the token is missing."""
    return WebClient(
        token=settings.secret("bot_token"),
        base_url=settings.base_url,
        logger=sdk_logger(settings),
        timeout=15,
    )


# ---------------------------------------------------------------- the button value / gate key


class GateRef(BaseModel):
    """What an Approve / Reject button carries: which run, which gate, is fencing required.

    Serialised as compact JSON: {"run": "<flow run uuid>", "gate": "<pause key>", "fence": bool}.
    The gate key is the pause key of the run's Paused state, so a click on an old message
    (an earlier gate of the same run, or another run) can never resume the wrong gate.
    """

    run: str
    gate: str = DEFAULT_GATE_KEY
    fence: bool = False

    def to_value(self) -> str:
        return json.dumps(self.model_dump(), separators=(",", ":"))

    @classmethod
    def from_value(cls, value: str) -> GateRef:
        """Parse a button value; raises ValueError on anything novaflow did not write."""
        try:
            return cls.model_validate_json(value)
        except Exception as exc:  # pydantic ValidationError or bad JSON
            raise ValueError(f"not a novaflow gate button value: {value[:80]!r}") from exc


# ---------------------------------------------------------------------------- Block Kit builders


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, the cut marked, so Slack never refuses it."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(markdown: str, limit: int = SECTION_TEXT_MAX) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": clip(markdown, limit)}


def _field(markdown: str) -> dict[str, Any]:
    return _text(markdown, FIELD_TEXT_MAX)


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, HEADER_TEXT_MAX)}}


def gate_text(gate: Gate) -> str:
    """The gate's own question in the message: what it asks, what each answer does."""
    lines = [f"*{gate.question}*"]
    if gate.moves:
        lines.append(gate.moves)
    lines.append(f"*Approve:* {gate.on_approve}")
    lines.append(f"*Reject:* {gate.on_reject}")
    lines.append(f":hourglass: {gate.timeout_text}")
    return "\n".join(lines)


def _section(markdown: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": _text(markdown)}
    if block_id:
        block["block_id"] = block_id
    return block


def _lines(items: list[str], more: str) -> str:
    shown = items[:_MAX_LINES]
    if len(items) > _MAX_LINES:
        shown.append(f"_…and {len(items) - _MAX_LINES} more {more}_")
    return "\n".join(shown)


def _fmt_resources(vcpus: float, ram_mb: float, disk_gb: float) -> str:
    return f"{vcpus:g} vCPU, {ram_mb / 1024:.1f} GiB RAM, {disk_gb:g} GiB disk"


def plan_summary(plan: Plan) -> str:
    """One line an operator reads first: how many moves by which method, how many skipped."""
    counts = plan.counts()
    by_method = ", ".join(f"{n} {method}" for method, n in sorted(counts.items()))
    moves = f"*{len(plan.moves)} move{'s' if len(plan.moves) != 1 else ''}*"
    if by_method:
        moves += f" ({by_method})"
    return f"{moves}, *{len(plan.skips)} skipped*"


def moves_text(plan: Plan) -> str:
    if not plan.moves:
        return "_No instance to move._"
    lines = [
        f"• `{m.instance_name}` {m.source} → {m.target or 'scheduler'} ({m.method.value})"
        for m in plan.moves
    ]
    return _lines(lines, "moves")


def skips_text(plan: Plan) -> str:
    lines = [
        f"• `{s.instance_name}` on {s.host or '?'}: {s.reason} → _{s.remedy}_" for s in plan.skips
    ]
    return "*Skipped*\n" + _lines(lines, "skips")


def capacity_text(plan: Plan) -> str:
    """Capacity after the plan: free minus needed, and whether it fits."""
    cap = plan.capacity
    if cap is None:
        return "*Capacity after:* not computed"
    left = cap.free - cap.needed
    verdict = ":white_check_mark: fits" if cap.fits else ":x: does NOT fit"
    return (
        f"*Capacity after:* {verdict}: needs {_fmt_resources(**cap.needed.model_dump())}, "
        f"leaves {_fmt_resources(**left.model_dump())} free"
    )


def gate_blocks(
    scenario: str,
    cloud: str,
    hosts: list[str],
    plan: Plan,
    flow_run_id: str,
    run_url: str,
    needs_fencing: bool,
    gate_key: str = DEFAULT_GATE_KEY,
    gate: Gate | None = None,
) -> list[dict[str, Any]]:
    """The approval message: the gate's question, what will happen, and the buttons.

    With a `gate`, the message asks that gate's own question (a "work done?" gate does not
    repeat the plan). Every text stays within Slack's limits however many hosts and moves.
    """
    if gate is not None:
        scenario, hosts, gate_key = gate.scenario, gate.hosts or hosts, gate.key
        needs_fencing = gate.needs_fencing
    ref = GateRef(run=str(flow_run_id), gate=gate_key, fence=needs_fencing)
    title = gate.title if gate else f"{scenario} on {host_list(hosts)}"
    blocks: list[dict[str, Any]] = [
        _header(f"Approval needed: {title}"),
        {
            "type": "section",
            "fields": [
                _field(f"*Scenario:*\n{scenario}"),
                _field(f"*Cloud:*\n{cloud}"),
                _field(f"*Host(s):* {len(hosts)}\n{host_list(hosts)}"),
                _field(f"*Flow run:*\n<{run_url}|open in Prefect>"),
            ],
        },
    ]
    if gate is not None:
        blocks.append(_section(gate_text(gate)))
    if gate is None or gate.shows_plan:
        blocks += [_section(plan_summary(plan)), _section(moves_text(plan))]
        if plan.skips:
            blocks.append(_section(skips_text(plan)))
        blocks.append(_section(capacity_text(plan)))
        if plan.warnings:
            blocks.append(_section("*Warnings*\n" + _lines([f"• {w}" for w in plan.warnings], "")))
    if needs_fencing:
        blocks.append(fenced_input_block())
    blocks.append(comment_input_block())
    blocks.append(_buttons(ref))
    blocks.append(
        {"type": "context", "elements": [_text(f"Run `{flow_run_id}` · gate `{gate_key}`")]}
    )
    return blocks


def fenced_input_block() -> dict[str, Any]:
    """The required confirmation before an evacuation: a node still running would split-brain."""
    return {
        "type": "input",
        "block_id": FENCED_BLOCK,
        "optional": False,
        "label": {"type": "plain_text", "text": "Fencing"},
        "element": {
            "type": "checkboxes",
            "action_id": FENCED_ACTION,
            "options": [
                {
                    "text": {"type": "mrkdwn", "text": "*the node is fenced* (powered off)"},
                    "value": FENCED_VALUE,
                }
            ],
        },
    }


def comment_input_block() -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": COMMENT_BLOCK,
        "optional": True,
        "label": {"type": "plain_text", "text": "Comment (kept in the report)"},
        "element": {"type": "plain_text_input", "action_id": COMMENT_ACTION},
    }


def _buttons(ref: GateRef) -> dict[str, Any]:
    value = ref.to_value()
    return {
        "type": "actions",
        "block_id": ACTIONS_BLOCK,
        "elements": [
            {
                "type": "button",
                "action_id": APPROVE_ACTION,
                "style": "primary",
                "text": {"type": "plain_text", "text": "Approve"},
                "value": value,
            },
            {
                "type": "button",
                "action_id": REJECT_ACTION,
                "style": "danger",
                "text": {"type": "plain_text", "text": "Reject"},
                "value": value,
            },
        ],
    }


def _without_controls(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The message as it was, minus buttons, inputs and any earlier verdict."""
    return [
        b
        for b in blocks
        if b.get("type") not in ("actions", "input") and b.get("block_id") != DECISION_BLOCK
    ]


def who(decision: ApprovalDecision) -> str:
    """How the decider is named in Slack: a mention for Slack users, else the recorded name."""
    if decision.via == "slack" and decision.approver.startswith("U"):
        return f"<@{decision.approver.split(' ', 1)[0]}>"
    return decision.approver or decision.via


def decided_blocks(
    original: list[dict[str, Any]] | None,
    decision: ApprovalDecision,
    run_url: str | None,
    when: datetime,
) -> list[dict[str, Any]]:
    """The gate message after a decision: same content, verdict instead of buttons."""
    verdict = ":white_check_mark: *Approved*" if decision.approved else ":no_entry: *Rejected*"
    text = f"{verdict} by {who(decision)} at {when:%Y-%m-%d %H:%M:%S} UTC (via {decision.via})"
    if decision.fenced:
        text += "\nConfirmed: the node is fenced."
    if decision.comment:
        text += f"\n> {decision.comment}"
    if run_url:
        text += f"\n<{run_url}|Flow run>"
    base = _without_controls(original) if original else [_section("*novaflow approval gate*")]
    return [*base, _section(text, DECISION_BLOCK)]


def expired_blocks(
    original: list[dict[str, Any]] | None, default_action_text: str
) -> list[dict[str, Any]]:
    base = _without_controls(original) if original else [_section("*novaflow approval gate*")]
    note = f":hourglass: *Gate expired* with no decision: {default_action_text}"
    return [*base, _section(note, DECISION_BLOCK)]


def report_text(
    outcomes: list[Outcome], decisions: list[tuple[str, ApprovalDecision]] | None = None
) -> str:
    """The final report for the thread: a rejection and who made it, or counts by result
    and then every failure with Nova's reason and the next step."""
    rejected = [(key, d) for key, d in decisions or [] if not d.approved]
    lines = []
    for key, d in rejected:
        comment = f": {d.comment}" if d.comment else ""
        lines.append(
            f":no_entry: *Report:* gate `{key}` rejected by {who(d)} (via {d.via}){comment}"
        )
    if not outcomes:
        lines.append("Nothing was changed." if rejected else "*Report:* nothing to move.")
        return clip("\n".join(lines), SECTION_TEXT_MAX)
    counts = Counter(o.result for o in outcomes)
    summary = ", ".join(f"{n} {result}" for result, n in sorted(counts.items()))
    bad = [o for o in outcomes if o.result in ("failed", "aborted", "not-started")]
    icon = ":white_check_mark:" if not bad else ":warning:"
    lines.append(f"{icon} *Report:* {summary}")
    failures = []
    for o in bad:
        where = f" on {o.final_host or o.source}" if (o.final_host or o.source) else ""
        step = getattr(o, "next_step", None) or o.remedy or "check the flow run logs"
        failures.append(
            f"• `{o.instance_name}` ({o.instance_id[:8]}){where}: {o.result}: "
            f"{o.error or 'no reason recorded'} → _{step}_"
        )
    return clip(
        "\n".join(lines) + ("\n" + _lines(failures, "failures") if failures else ""),
        SECTION_TEXT_MAX,
    )


# ------------------------------------------------------------------------------- the sender


@dataclass
class _Posted:
    channel: str
    blocks: list[dict[str, Any]]


class SlackGate:
    """Posts gate messages and their thread, and updates a gate once decided or expired.

    Remembers (per process) the channel id and blocks of what it posted, so an update keeps
    the plan visible; the listener passes the blocks it received with the click instead.
    """

    def __init__(self, client: WebClient, channel: str) -> None:
        self.client = client
        self.channel = channel
        self._posted: dict[str, _Posted] = {}

    @classmethod
    def from_settings(cls, settings: SlackSettings) -> SlackGate:
        return cls(web_client(settings), settings.require_channel())

    def post_gate(
        self,
        scenario: str,
        cloud: str,
        hosts: list[str],
        plan: Plan,
        flow_run_id: str,
        run_url: str,
        needs_fencing: bool,
        gate_key: str = DEFAULT_GATE_KEY,
        gate: Gate | None = None,
    ) -> str:
        """Post the approval message; returns its ts (the thread for progress and report)."""
        blocks = gate_blocks(
            scenario, cloud, hosts, plan, str(flow_run_id), run_url, needs_fencing, gate_key, gate
        )
        what = gate.question if gate else f"{scenario} on {host_list(hosts)}"
        fallback = clip(f"Approval needed ({cloud}): {what}", SECTION_TEXT_MAX)
        resp = self.client.chat_postMessage(channel=self.channel, text=fallback, blocks=blocks)
        ts = str(resp["ts"])
        self._posted[ts] = _Posted(str(resp.get("channel") or self.channel), blocks)
        return ts

    def _channel(self, ts: str, channel: str | None) -> str:
        if channel:
            return channel
        posted = self._posted.get(ts)
        return posted.channel if posted else self.channel

    def _original(self, ts: str, blocks: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        if blocks is not None:
            return blocks
        posted = self._posted.get(ts)
        return posted.blocks if posted else []

    def mark_decided(
        self,
        ts: str,
        decision: ApprovalDecision,
        run_url: str | None = None,
        *,
        channel: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
        when: datetime | None = None,
    ) -> None:
        """Update the gate in place: who decided, when, with what comment; buttons gone."""
        new = decided_blocks(
            self._original(ts, blocks), decision, run_url, when or datetime.now(UTC)
        )
        verdict = "approved" if decision.approved else "rejected"
        self.client.chat_update(
            channel=self._channel(ts, channel),
            ts=ts,
            text=f"Gate {verdict} by {decision.approver or decision.via}",
            blocks=new,
        )

    def mark_expired(
        self,
        ts: str,
        default_action_text: str,
        *,
        channel: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
    ) -> None:
        """Update the gate to say nobody decided in time and what the default action did."""
        self.client.chat_update(
            channel=self._channel(ts, channel),
            ts=ts,
            text=f"Gate expired: {default_action_text}",
            blocks=expired_blocks(self._original(ts, blocks), default_action_text),
        )

    def post_progress(self, ts: str, text: str, *, channel: str | None = None) -> str:
        """A progress line in the gate's thread; returns the reply's ts."""
        resp = self.client.chat_postMessage(
            channel=self._channel(ts, channel), thread_ts=ts, text=text
        )
        return str(resp["ts"])

    def post_report(
        self,
        ts: str,
        outcomes: list[Outcome],
        *,
        channel: str | None = None,
        decisions: list[tuple[str, ApprovalDecision]] | None = None,
    ) -> str:
        """The final report in the thread: a rejection and who made it, or failures named
        with instance, reason and next step."""
        text = report_text(outcomes, decisions)
        resp = self.client.chat_postMessage(
            channel=self._channel(ts, channel), thread_ts=ts, text=text, blocks=[_section(text)]
        )
        return str(resp["ts"])

    def post_ephemeral(self, channel: str, user: str, text: str) -> None:
        """A reply only `user` sees: refusals must not clutter the ops channel."""
        self.client.chat_postEphemeral(channel=channel, user=user, text=text)


SlackNotifier = SlackGate
"""Alias: the same object serves gates, progress and reports."""
