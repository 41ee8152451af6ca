"""Formation -> Kubernetes objects: per process type a Deployment, a Secret for values whose
names look secret, a Service for a type with a port and an autoscaling/v2
HorizontalPodAutoscaler for a type with `autoscale`. Pure: no cluster, no files.

What does not carry over, and why, is in docs/export.md; the notes that concern one type are
also written as comments above its Deployment, where the person applying it will read them.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

import yaml

from procman.config.envfiles import looks_secret
from procman.errors import ProcmanError, UsageError
from procman.export.common import (
    INSTANCE_VARS,
    binary_size,
    generated_by,
    relative_cwd,
    safe_name,
    type_env,
    unique_names,
    whole_seconds,
)
from procman.model import Autoscale, Formation, ProcessType
from procman.shell import exec_script

MANAGED_BY = "procman"
MAX_NAME = 63  # a Service name is a DNS-1035 label, and label values stop at 63 too
SHELL = "/bin/sh"
#: Under procman `autoscale.cpu` is a percentage of one CPU per instance; HPA utilisation is a
#: percentage of the request, so a request of one CPU makes the two numbers mean the same.
CPU_REQUEST = "1"
#: The per-pod metric an HPA reads for an `autoscale.queue` rule; a custom-metrics adapter
#: (prometheus-adapter, KEDA, ...) has to serve it, since no procman holds the pod's listener.
QUEUE_METRIC = "procman_accept_queue"
_DNS_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
_SECRET_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")

Obj = dict[str, Any]


def app_name(app: str) -> str:
    """A DNS-1035 label start: lower case letters, digits and '-', beginning with a letter."""
    name = safe_name(app, "--app", lower=True, allowed="a-z0-9-")
    return name if name[0].isalpha() else f"app-{name}"


def _type_name(name: str) -> str:
    return safe_name(name, "process type", lower=True, allowed="a-z0-9-")


def render(
    formation: Formation, app: str, image: str | None, namespace: str | None, single_file: bool
) -> dict[str, str]:
    """File name -> YAML text, objects grouped by type in formation order."""
    if not image:
        raise UsageError("kubernetes export needs --image IMAGE")
    if namespace is not None and not _DNS_LABEL.fullmatch(namespace):
        raise UsageError(f"--namespace {namespace!r} is not a namespace name (a-z, 0-9, '-')")
    app = app_name(app)
    names = unique_names(formation, _type_name)
    objects: list[tuple[str, Obj, list[str]]] = []  # (file name, object, comment lines)
    shared = {key: value for key, value in formation.env.items() if looks_secret(key)}
    if shared:
        # Secret-looking values of the env files, once for every type that uses them.
        labels = _all_labels(app, None)
        note = f"{app}-env: the secret-looking values of the env files, in clear"
        objects.append(
            (f"{app}-secret.yaml", _secret(f"{app}-env", namespace, labels, shared), [note])
        )
    for ptype in formation.types:
        base = f"{app}-{names[ptype.name]}"
        if len(base) > MAX_NAME:
            raise UsageError(
                f"{base!r} is longer than {MAX_NAME} characters, the limit for Kubernetes "
                "names; pass a shorter --app"
            )
        objects += _objects_of(formation, ptype, app, names[ptype.name], base, image, namespace)
    header = [generated_by("kubernetes", formation)]
    if single_file:
        docs = ["---\n" + _comments(notes) + _dump(obj) for _, obj, notes in objects]
        return {f"{app}.yaml": _comments(header) + "".join(docs)}
    return {name: _comments(header + notes) + _dump(obj) for name, obj, notes in objects}


def _objects_of(
    formation: Formation,
    ptype: ProcessType,
    app: str,
    component: str,
    base: str,
    image: str,
    namespace: str | None,
) -> list[tuple[str, Obj, list[str]]]:
    selector = _labels(app, component)
    labels = _all_labels(app, component)

    def metadata(name: str) -> Obj:
        return _metadata(name, namespace, labels)

    env = type_env(formation, ptype)
    own_secrets = {key: value for key, value in ptype.env.items() if looks_secret(key)}
    secret_of = {key: f"{base}-env" if key in own_secrets else f"{app}-env" for key in env}
    result: list[tuple[str, Obj, list[str]]] = []
    if own_secrets:
        note = f"{base}-env: the secret-looking values of {ptype.name}'s env, in clear"
        secret = _secret(f"{base}-env", namespace, labels, own_secrets)
        result.append((f"{base}-secret.yaml", secret, [note]))

    container: Obj = {
        "name": component,
        "image": image,
        "command": [SHELL, "-c", _script(formation, ptype)],
        "env": [_env_entry(key, value, secret_of[key]) for key, value in env.items()],
    }
    if ptype.autoscale is not None:  # the HPA's count changes under the pods: no share to tell
        container["env"] = [e for e in container["env"] if e["name"] != "PROCMAN_INSTANCES"]
    if ptype.port is not None:
        container["ports"] = [{"containerPort": ptype.port, "protocol": "TCP"}]
    resources: Obj = {}
    if ptype.max_memory is not None:
        resources["limits"] = {
            "memory": binary_size(ptype.max_memory, ("", "Ki", "Mi", "Gi", "Ti"))
        }
    if ptype.autoscale is not None:
        resources["requests"] = _requests(ptype)
    if resources:
        container["resources"] = resources
    container.update(_probes(ptype))

    spec: Obj = {}
    if ptype.autoscale is None:
        # With an HPA, `replicas` is left out, as the Kubernetes docs ask: each `kubectl apply`
        # would otherwise reset the count the autoscaler chose.
        spec["replicas"] = ptype.instances
    spec["selector"] = {"matchLabels": dict(selector)}
    spec["template"] = {
        "metadata": {"labels": dict(labels)},
        "spec": {
            "terminationGracePeriodSeconds": whole_seconds(ptype.kill_timeout),
            "containers": [container],
        },
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(base),
        "spec": spec,
    }
    result.append((f"{base}-deployment.yaml", deployment, _notes(ptype)))

    if ptype.port is not None:
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(base),
            "spec": {
                "type": "ClusterIP",
                "selector": dict(selector),
                "ports": [{"port": ptype.port, "targetPort": ptype.port, "protocol": "TCP"}],
            },
        }
        result.append((f"{base}-service.yaml", service, []))

    if ptype.autoscale is not None:
        scale = ptype.autoscale
        hpa = {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": metadata(base),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": base},
                # 0 needs the HPAScaleToZero feature gate, off by default: 1 is the floor.
                "minReplicas": max(1, scale.min),
                "maxReplicas": scale.max,
                "metrics": _hpa_metrics(scale),
            },
        }
        result.append((f"{base}-hpa.yaml", hpa, _hpa_notes(ptype)))
    return result


def _labels(app: str, component: str | None) -> dict[str, str]:
    """The recommended labels that select pods (never the ones that change between exports)."""
    labels = {"app.kubernetes.io/name": app, "app.kubernetes.io/instance": app}
    if component is not None:
        labels["app.kubernetes.io/component"] = component
    return labels


def _all_labels(app: str, component: str | None) -> dict[str, str]:
    """Every object's labels: the selecting ones plus part-of and managed-by."""
    return {
        **_labels(app, component),
        "app.kubernetes.io/part-of": app,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def _metadata(name: str, namespace: str | None, labels: dict[str, str]) -> Obj:
    meta: Obj = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = dict(labels)
    return meta


def _secret(
    name: str, namespace: str | None, labels: dict[str, str], values: dict[str, str]
) -> Obj:
    bad = [key for key in values if not set(key) <= _SECRET_KEY_CHARS]
    if bad:
        raise ProcmanError(f"{bad[0]!r} cannot be a Secret key (letters, digits, '-', '.', '_')")
    meta = _metadata(name, namespace, labels)
    # stringData, not base64 `data`: base64 hides nothing, and the file is written 0600.
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": "Opaque",
        "stringData": dict(values),
    }


def _script(formation: Formation, ptype: ProcessType) -> str:
    script = exec_script(ptype.cmd)
    cwd = relative_cwd(formation, ptype)
    if cwd is None:
        return script
    # The image's working directory stands for the project directory.
    return f"cd {shlex.quote(cwd)} || exit 1; {script}"


def _env_entry(key: str, value: str, secret_name: str) -> Obj:
    if looks_secret(key):
        return {"name": key, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}}
    return {"name": key, "value": value}


def _probes(ptype: ProcessType) -> Obj:
    """readinessProbe from `ready`, and a startupProbe that gives a new pod `ready_timeout`
    seconds, then restarts it, as procman does with an instance that is never ready."""
    if ptype.port is None or ptype.ready.kind not in ("port", "http"):
        return {}  # none: ready at start; notify: the kubelet does not speak sd_notify
    if ptype.ready.kind == "http":
        check: Obj = {"httpGet": {"path": ptype.ready.path, "port": ptype.port}}
    else:
        check = {"tcpSocket": {"port": ptype.port}}
    startup = {**check, "periodSeconds": 1, "failureThreshold": whole_seconds(ptype.ready_timeout)}
    return {"startupProbe": startup, "readinessProbe": dict(check)}


def _requests(ptype: ProcessType) -> Obj:
    """What the HPA's Resource metrics need: a CPU request (utilisation is a share of it)
    and, for a memory target, a memory request of that size (no more than the limit)."""
    scale = ptype.autoscale
    requests: Obj = {}
    if scale is not None and scale.cpu is not None:
        requests["cpu"] = CPU_REQUEST
    if scale is not None and scale.memory is not None:
        memory = min(scale.memory, ptype.max_memory or scale.memory)
        requests["memory"] = binary_size(memory, ("", "Ki", "Mi", "Gi", "Ti"))
    return requests


def _hpa_metrics(scale: Autoscale) -> list[Obj]:
    """cpu and memory as Resource metrics, queue as a Pods metric (custom metrics API)."""
    metrics: list[Obj] = []
    if scale.cpu is not None:
        target: Obj = {"type": "Utilization", "averageUtilization": max(1, round(scale.cpu))}
        metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": target}})
    if scale.memory is not None:
        size = binary_size(scale.memory, ("", "Ki", "Mi", "Gi", "Ti"))
        target = {"type": "AverageValue", "averageValue": size}
        metrics.append({"type": "Resource", "resource": {"name": "memory", "target": target}})
    if scale.queue is not None:
        target = {"type": "AverageValue", "averageValue": f"{scale.queue:g}"}
        pods = {"metric": {"name": QUEUE_METRIC}, "target": target}
        metrics.append({"type": "Pods", "pods": pods})
    return metrics


def _hpa_notes(ptype: ProcessType) -> list[str]:
    scale = ptype.autoscale
    if scale is None or scale.queue is None:
        return []
    return [
        f"{ptype.name}: the Pods metric {QUEUE_METRIC} (connections waiting in a pod's listen "
        "backlog, `ss -ltn`'s Recv-Q; procman's autoscale.queue) is not built in: a "
        "custom-metrics adapter (prometheus-adapter, KEDA, ...) must serve it for these "
        "pods, or the HPA cannot read it."
    ]


def warnings(formation: Formation) -> list[str]:
    """What the person exporting should hear now, not only read in the files."""
    return [
        f"{t.name}: autoscale.queue is written as the Pods metric {QUEUE_METRIC}; it needs a "
        "custom-metrics adapter serving it per pod (see the comment in the HPA file)"
        for t in formation.types
        if t.autoscale is not None and t.autoscale.queue is not None
    ]


def _notes(ptype: ProcessType) -> list[str]:
    """What the reader of this Deployment should know that YAML cannot say."""
    name, notes = ptype.name, []
    if ptype.socket:
        notes.append(
            f"{name}: under procman this type gets its listener on fd 3 (socket: true); "
            "here nothing passes one, so its command must listen on $PORT itself."
        )
    if ptype.ready.kind == "notify":
        notes.append(
            f"{name}: ready: notify has no Kubernetes probe; a pod counts as ready once it runs."
        )
    if ptype.restart.value != "always":
        notes.append(
            f"{name}: restart: {ptype.restart.value} cannot be kept; a Deployment always "
            "restarts its containers."
        )
    if ptype.autoscale is not None:
        scale = ptype.autoscale
        notes.append(
            f"{name}: no replicas here; the HorizontalPodAutoscaler keeps {max(1, scale.min)} to "
            f"{scale.max} pods at {_targets_text(scale)} each; PROCMAN_INSTANCES is not set "
            f"(PROCMAN_MAX_INSTANCES is the HPA's max)."
        )
    used = [var for var in INSTANCE_VARS if var in ptype.cmd]
    if used:
        notes.append(
            f"{name}: {', '.join(used)} are not set: pods of a Deployment have no stable index."
        )
    return notes


def _targets_text(scale: Autoscale) -> str:
    parts = []
    if scale.cpu is not None:
        parts.append(f"{scale.cpu:g}% of one CPU")
    if scale.memory is not None:
        parts.append(f"{binary_size(scale.memory, ('B', 'KiB', 'MiB', 'GiB', 'TiB'))} of memory")
    if scale.queue is not None:
        parts.append(f"{scale.queue:g} waiting connections")
    return " or ".join(parts)


def _comments(lines: list[str]) -> str:
    return "".join(f"# {line}\n" for line in lines)


_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present: faster


class _Dumper(_BaseDumper):
    def ignore_aliases(self, data: object) -> bool:
        return True  # a probe written out twice reads better than &id001 / *id001


def _dump(obj: Obj) -> str:
    # sort_keys=False keeps the order Kubernetes users read (apiVersion, kind, metadata, spec);
    # the order is fixed by the code above, so the output is the same on every run.
    return yaml.dump(
        obj,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 16,
    )
