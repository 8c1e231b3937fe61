"""Fixtures: rings written by slipstream-sim, and slipstream-tail to compare with.

The binaries are found through $SLIPSTREAM_SIM / $SLIPSTREAM_TAIL (the Rust
runner, tests/tests/python_package.rs, sets them), else in the workspace's
target/debug. Build them with `cargo build -p slipstream-tools`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _bin(var: str, name: str) -> str:
    path = os.environ.get(var) or str(ROOT / "target" / "debug" / name)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{name} not found at {path}: build it with `cargo build -p slipstream-tools` or set ${var}")
    return path


@pytest.fixture(scope="session")
def sim_bin() -> str:
    return _bin("SLIPSTREAM_SIM", "slipstream-sim")


@pytest.fixture(scope="session")
def tail_bin() -> str:
    return _bin("SLIPSTREAM_TAIL", "slipstream-tail")


@pytest.fixture(scope="session")
def journal_bin() -> str:
    """The recorder, `slipstream-journal` (built by `cargo build -p slipstream-journal-tool`)."""
    return _bin("SLIPSTREAM_JOURNAL", "slipstream-journal")


class Ring:
    """A ring path under /dev/shm, removed at the end of the test."""

    def __init__(self, sim: str, tail: str) -> None:
        self.path = f"/dev/shm/slipstream-pytest-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._sim = sim
        self._tail = tail

    def sim(self, *args: str, timeout: float = 60) -> None:
        """Runs slipstream-sim on this ring to completion."""
        subprocess.run([self._sim, self.path, *args, "--quiet"], check=True, timeout=timeout)

    def sim_background(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([self._sim, self.path, *args, "--quiet"])

    def tail_json(self, *args: str) -> list[str]:
        out = subprocess.run(
            [self._tail, self.path, "--json", "--no-follow", *args],
            check=True,
            timeout=60,
            capture_output=True,
            text=True,
        )
        return out.stdout.splitlines()


@pytest.fixture
def ring(sim_bin: str, tail_bin: str):
    r = Ring(sim_bin, tail_bin)
    children: list[subprocess.Popen] = []
    original = r.sim_background

    def tracked(*args: str) -> subprocess.Popen:
        p = original(*args)
        children.append(p)
        return p

    r.sim_background = tracked  # type: ignore[method-assign]
    try:
        yield r
    finally:
        for p in children:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)
        # The ring and its sidecars (lock, wake file, readers directory).
        for extra in ("", ".lock", ".wake"):
            try:
                os.remove(r.path + extra)
            except FileNotFoundError:
                pass
        shutil.rmtree(r.path + ".readers", ignore_errors=True)


SMALL = ["--flat-out", "--events-per-block", "10..80", "--block-size", "512B..4KiB", "--seed", "3"]
