"""`novaflow slack listen`: start the approval listener over Socket Mode and/or HTTP."""

from __future__ import annotations

import logging
import threading

import typer
import uvicorn

from deployments.slack_listener import (
    build_listener,
    check_settings,
    http_app,
    settings_from_blocks,
    socket_mode_client,
)
from novaflow.slack import SlackConfigError, SlackSettings

slack_app = typer.Typer(
    no_args_is_help=True, help="Slack approvals: turn Approve / Reject clicks into resumed runs."
)


@slack_app.callback()
def slack() -> None:
    """Slack approvals (a group, so `listen` stays a sub-command when mounted)."""


@slack_app.command("listen")
def listen(
    http: int | None = typer.Option(
        None, "--http", metavar="PORT", help="Serve POST /slack/actions on this port."
    ),
    socket: bool = typer.Option(
        False, "--socket", help="Use Socket Mode (the default when --http is not given)."
    ),
    bind: str = typer.Option("127.0.0.1", "--bind", help="Address for --http."),
    secrets_from_blocks: bool = typer.Option(
        False,
        "--secrets-from-blocks",
        help="Read tokens missing from the environment from Prefect Secret blocks "
        "novaflow-slack-bot-token, -app-token, -signing-secret.",
    ),
) -> None:
    """Listen for gate clicks until interrupted; fails at once if a token is missing."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    use_socket = socket or http is None
    settings = SlackSettings()
    try:
        if secrets_from_blocks:
            settings = settings_from_blocks(settings)
        check_settings(settings, socket=use_socket, http=http is not None)
        listener = build_listener(settings)
    except SlackConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if use_socket:
        client = socket_mode_client(listener, settings)
        client.connect()
        typer.echo("novaflow: listening for Slack approvals over Socket Mode")
    if http is not None:
        typer.echo(f"novaflow: listening for Slack approvals on http://{bind}:{http}/slack/actions")
        uvicorn.run(http_app(listener, settings), host=bind, port=http, log_level="warning")
        return
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        client.close()
