"""Nova-shaped API errors: `{"conflictingRequest": {"code": 409, "message": ...}}` and kin."""

from __future__ import annotations

_FAULT_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}


class NovaError(Exception):
    """An error the API answers with Nova's status code and body shape."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def body(self) -> dict[str, object]:
        return {
            _FAULT_NAMES.get(self.code, "computeFault"): {
                "code": self.code,
                "message": self.message,
            }
        }


def bad_request(message: str) -> NovaError:
    return NovaError(400, message)


def not_found(message: str) -> NovaError:
    return NovaError(404, message)


def conflict(message: str) -> NovaError:
    return NovaError(409, message)


def invalid_state(action: str, instance_id: str, attr: str, state: str | None) -> NovaError:
    """Nova's InstanceInvalidState, raised as 409 by the API."""
    return conflict(f"Cannot '{action}' instance {instance_id} while it is in {attr} {state}")
