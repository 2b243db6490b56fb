"""The serving benchmark's busy-CPU control: a spin loop at the lowest priority, on the named CPUs only, for
the length of the block."""

from __future__ import annotations

import os

import pytest
from benchmarks.bench_serving import busy_cpus

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policies")


def test_spins_at_idle_priority_on_the_named_cpu_and_stops_after_the_block():
    cpu = max(os.sched_getaffinity(0))
    with busy_cpus(str(cpu)) as spin:
        assert spin.poll() is None  # running
        assert os.sched_getscheduler(spin.pid) == os.SCHED_IDLE
        assert os.sched_getaffinity(spin.pid) == {cpu}
    assert spin.poll() is not None  # gone with the block


def test_no_cpus_no_spin():
    with busy_cpus(None) as spin:
        assert spin is None
