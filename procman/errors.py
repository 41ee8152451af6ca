"""The error tree. Imports nothing from procman, so every module can use it."""

from __future__ import annotations

from enum import Enum


class ErrorCode(str, Enum):
    """The `code` strings of protocol error objects."""

    BAD_REQUEST = "bad_request"  # not JSON, not an object, too long
    UNKNOWN_METHOD = "unknown_method"
    BAD_PARAMS = "bad_params"
    CONFIG = "config"  # the formation file or env files are wrong
    NOT_FOUND = "not_found"  # no such process type or instance
    PORT_IN_USE = "port_in_use"
    CONFLICT = "conflict"  # the request would silently undo what runs (another file, a name)
    SPAWN = "spawn"
    FAILED = "failed"  # an operation ran but some instance did not come up
    SHUTTING_DOWN = "shutting_down"
    INTERNAL = "internal"
    DAEMON_UNAVAILABLE = "daemon_unavailable"


class ProcmanError(Exception):
    """Anything procman reports to a user as one line, exit code 1."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class ConfigError(ProcmanError):
    """A formation or env file is wrong; the message names file, line and key path."""

    code = ErrorCode.CONFIG

    def __init__(
        self,
        message: str,
        file: str | None = None,
        line: int | None = None,
        key_path: str | None = None,
    ) -> None:
        self.file, self.line, self.key_path, self.detail = file, line, key_path, message
        where = ""
        if file:
            where = f"{file}:{line}: " if line else f"{file}: "
        if key_path:
            where += f"{key_path}: "
        super().__init__(where + message)


class UsageError(ProcmanError):
    """A bad argument (the CLI turns it into exit code 2)."""

    code = ErrorCode.BAD_PARAMS


class NotFound(ProcmanError):
    code = ErrorCode.NOT_FOUND


class ProtocolError(ProcmanError):
    code = ErrorCode.BAD_REQUEST
    req_id: object = None  # the request's id, when it could be read before the error


class DaemonUnavailable(ProcmanError):
    code = ErrorCode.DAEMON_UNAVAILABLE


class SpawnError(ProcmanError):
    code = ErrorCode.SPAWN


class Conflict(ProcmanError):
    code = ErrorCode.CONFLICT


class PortInUse(ProcmanError):
    code = ErrorCode.PORT_IN_USE


class RemoteError(ProcmanError):
    """An error object the daemon sent back."""

    def __init__(self, code: str, message: str, data: object = None) -> None:
        try:
            parsed = ErrorCode(code)
        except ValueError:
            parsed = ErrorCode.INTERNAL
        super().__init__(message, parsed)
        self.raw_code = code
        self.data = data
