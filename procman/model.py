"""Immutable configuration and the shapes that travel on the wire. Stdlib only."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from signal import SIGTERM

from procman.names import NAME_RE


class RestartPolicy(str, Enum):
    ALWAYS = "always"
    ON_FAILURE = "on-failure"
    NEVER = "never"


class InstanceState(str, Enum):
    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"
    STOPPING = "stopping"
    STOPPED = "stopped"
    EXITED = "exited"  # restart: never (or on-failure) and a clean exit
    ERRORED = "errored"  # gave up: too many early exits, or could not start


#: A start, scale or restart is done with an instance once it is up or has given up.
UP_OR_GAVE_UP = frozenset(
    {InstanceState.RUNNING, InstanceState.EXITED, InstanceState.ERRORED, InstanceState.BACKOFF}
)
#: No process, and none coming: what a stop waits for.
DOWN = frozenset({InstanceState.STOPPED, InstanceState.EXITED, InstanceState.ERRORED})


@dataclass(frozen=True, slots=True)
class ReadyCheck:
    """How an instance shows it is ready: none | port | notify | http:/path."""

    kind: str = "none"
    path: str = "/"

    KINDS = ("none", "port", "notify", "http")

    @classmethod
    def parse(cls, text: str) -> ReadyCheck:
        if text.startswith("http:"):
            path = text[len("http:") :] or "/"
            if not path.startswith("/"):
                raise ValueError(f"{text!r}: the http check needs a path, like http:/healthz")
            return cls("http", path)
        if text in ("none", "port", "notify"):
            return cls(text)
        raise ValueError(f"{text!r} is not a ready check (none, port, notify, http:/path)")

    def __str__(self) -> str:
        return f"http:{self.path}" if self.kind == "http" else self.kind


@dataclass(frozen=True, slots=True)
class Autoscale:
    """Targets per instance, any combination (at least one): the count follows whichever
    asks for the most instances."""

    min: int
    max: int
    cpu: float | None = None  # target mean CPU % per instance
    window: float = 60.0  # scale-down stabilisation window, seconds
    memory: int | None = None  # target mean RSS of an instance's tree, bytes
    queue: float | None = None  # target mean connections waiting in a slot's accept queue

    def targets(self) -> dict[str, float]:
        """metric -> target, for the metrics this rule names, in a fixed order."""
        given = {"cpu": self.cpu, "memory": self.memory, "queue": self.queue}
        return {name: float(value) for name, value in given.items() if value is not None}


@dataclass(frozen=True, slots=True)
class ProcessType:
    name: str
    cmd: str
    instances: int = 1
    port: int | None = None  # the type's port; with instance_ports, that of its first instance
    socket: bool = False  # the daemon binds and passes the listener on fd 3
    instance_ports: bool = False  # Foreman's rule: instance i gets port + i, not a shared port
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None  # absolute; None means the project directory
    restart: RestartPolicy = RestartPolicy.ALWAYS
    kill_timeout: float = 5.0
    max_memory: int | None = None  # bytes
    ready: ReadyCheck = ReadyCheck()
    ready_timeout: float = 30.0
    min_uptime: float = 5.0
    max_restarts: int = 10
    autoscale: Autoscale | None = None
    stop_signal: int = SIGTERM  # what a stop sends first; SIGKILL follows after kill_timeout
    after: tuple[str, ...] = ()  # types that must be ready (or, one-shot, done) before this one
    watch: tuple[str, ...] = ()  # absolute paths: a change under them reloads (or restarts) it
    ignore: tuple[str, ...] = ()  # globs under the watched paths whose changes do not count
    cron_restart: str | None = None  # a cron expression: reloaded (or restarted) at each time
    line: int | None = None  # where it was declared, for messages

    def port_of(self, index: int) -> int | None:
        """The PORT of instance `index` (0-based): the shared port, or Foreman's port + index."""
        if self.port is None:
            return None
        return self.port + index if self.instance_ports else self.port

    @property
    def one_shot(self) -> bool:
        """Runs to completion (restart: never): what waits for it waits for a clean exit."""
        return self.restart == RestartPolicy.NEVER


@dataclass(frozen=True, slots=True)
class Formation:
    """What to run: the process types in file order, plus where they came from."""

    root: Path  # the project directory
    types: tuple[ProcessType, ...]
    source: Path | None = None  # the Procfile / procman.yaml; None when only ad-hoc apps run
    env: dict[str, str] = field(default_factory=dict)  # merged env files
    env_files: tuple[Path, ...] = ()
    log_max_size: int = 10 * 1024 * 1024  # a type's log file is rotated past this size
    log_keep: int = 5  # rotated files kept per type
    sample_interval: float = 2.0  # seconds between psutil samples (when anything uses them)
    metrics_port: int | None = None  # Prometheus /metrics over HTTP, opt-in

    def get(self, name: str) -> ProcessType | None:
        for ptype in self.types:
            if ptype.name == name:
                return ptype
        return None

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.types]


@dataclass(frozen=True, slots=True, order=True)
class InstanceId:
    """`web.3` outside (1-based, as Foreman prints it), index 2 inside."""

    type: str
    index: int

    def __str__(self) -> str:
        return f"{self.type}.{self.index + 1}"

    @classmethod
    def parse(cls, text: str) -> InstanceId:
        name, sep, number = text.rpartition(".")
        if not sep or not NAME_RE.match(name) or not number.isdigit() or int(number) < 1:
            raise ValueError(f"{text!r} is not an instance id like web.1")
        return cls(name, int(number) - 1)


@dataclass(slots=True)
class InstanceStatus:
    """One row of `status --json`; asdict() is the wire form."""

    id: str
    type: str
    index: int
    pid: int | None
    state: str
    uptime_s: float | None
    restarts: int
    cpu_percent: float | None
    memory_bytes: int | None
    port: int | None
    exit_code: int | None = None
    reason: str | None = None
    status_text: str | None = None  # the instance's own word, from sd_notify STATUS=
    stale: bool = False  # its process runs an older definition than the installed formation
    port_conflict: dict[str, object] | None = None  # port, holder, fix (daemon/conflicts.py)

    def as_dict(self) -> dict[str, object]:
        """The wire form (dataclasses.asdict deep-copies; this is a hot path)."""
        return {name: getattr(self, name) for name in self.__slots__}
