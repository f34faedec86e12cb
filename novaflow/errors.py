"""Domain errors that name the host or instance, the cause and the operator's next step."""

from __future__ import annotations


class NovaflowError(Exception):
    """Base error: `what` went wrong, `remedy` says what the operator can do next."""

    def __init__(self, what: str, remedy: str | None = None) -> None:
        self.what = what
        self.remedy = remedy
        super().__init__(f"{what} -> {remedy}" if remedy else what)


class BadRequest(NovaflowError):
    """The operator's input cannot be acted on (unknown host, host twice, bad window...)."""


class CloudError(NovaflowError):
    """The cloud refused or failed an action permanently (400, 403, 404, NoValidHost)."""


class CannotConnect(CloudError):
    """The clouds.yaml entry does not open the cloud (credentials, auth_url): nothing was done."""


class PolicyRefused(CloudError):
    """The cloud's policy refuses these credentials an API novaflow needs (HTTP 403)."""


class TransientCloudError(NovaflowError):
    """The cloud failed in a way worth retrying (connection, 5xx, 409 task in progress)."""


class UnsupportedByCloud(NovaflowError):
    """The cloud's API is too old for a feature the run asks for."""


class MoveTimeout(NovaflowError):
    """A move did not finish within its timeout."""


REFUSALS: tuple[type[NovaflowError], ...] = (
    BadRequest,
    CannotConnect,
    UnsupportedByCloud,
    PolicyRefused,
)
"""Errors a run raises only before its first cloud action: the operator fixes the input and
runs again (`novaflow run` exits 2 on them; retrying the same call cannot help)."""
