"""What the work step and the back-in-service check tell a campaign about one host."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class WorkResult(BaseModel):
    """How the work on one host went: ok or not, when, its output's tail, one line why."""

    ok: bool
    started_at: datetime
    ended_at: datetime
    output: str = ""
    detail: str = ""


class ServiceProof(BaseModel):
    """Whether a host is back in service after its work, in the operator's words."""

    ok: bool
    saw_restart: bool = False
    detail: str = ""
