"""The cgroup tree on its own, in a child process (it moves the process that runs it)."""

from __future__ import annotations

import subprocess

import pytest

from tests.harness import PY

STRAY = """
import os, subprocess, sys, time
from procman.daemon import cgroups
place = cgroups.own_cgroup()
if place is None:
    print("skip: no writable cgroup v2 here"); sys.exit(0)
tree = cgroups.CgroupTree(place, lambda delay, cb: None, set())
stray = subprocess.Popen(["sleep", "30"])  # forked while parked: procman update's dry run
with tree.placing("t") as placed:
    inst = subprocess.Popen(["sleep", "30"])
    placed.pid = inst.pid
inst.kill(); inst.wait()
tree.exited(inst.pid)  # cgroup.kill of the instance's cgroup
time.sleep(0.2)
alive = stray.poll() is None
stray.kill(); stray.wait()
tree.end_all(); tree.close()
print("stray alive" if alive else "stray killed")
"""


def test_a_process_the_daemon_forks_while_parked_is_not_in_the_next_instances_cgroup() -> None:
    """The daemon waits parked in the next instance's cgroup; a process it started for
    itself meanwhile (`procman update`'s dry run of the installed code) used to share that
    instance's cgroup, and its cgroup.kill (seen: the dry run SIGKILLed under a crash loop,
    test_update's test_a_crash_loop_goes_on_counting_across_the_update, stress run 1)."""
    out = subprocess.run([PY, "-c", STRAY], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    if out.stdout.startswith("skip"):
        pytest.skip(out.stdout.strip())
    assert out.stdout.strip() == "stray alive", out
