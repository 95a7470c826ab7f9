"""A real `serve()` in a subprocess on loopback with chosen limits, and what the tests read of it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(index_dir: Path, **limits):
    """Yields (base url, process) of `cooc.scorer.serve.serve(index_dir, limits=Limits(**limits))`."""
    port = free_port()
    code = ("import sys; from cooc.scorer.serve import Limits, serve; "
            f"serve(sys.argv[1], port={port}, limits=Limits(**{limits!r}))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(index_dir)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, proc)
        yield base, proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


def wait_until_serving(base: str, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            return
        except (urllib.error.URLError, ConnectionError):
            if proc.poll() is not None:
                pytest.fail(proc.stderr.read())
            if time.time() > deadline:
                pytest.fail(f"the server did not start within {seconds:g} s")
            time.sleep(0.2)


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """The process's resident memory now (VmRSS) or at its peak (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks of 1/100 s


def wait_idle(pid: int, max_rss_mb: float, seconds: float = 20.0) -> float:
    """Seconds until the process stops using CPU (0.5 s without 0.05 s of CPU), failing as soon as its
    RSS passes max_rss_mb or it is still busy after `seconds`."""
    t0 = time.time()
    last = cpu_seconds(pid)
    while time.time() - t0 < seconds:
        time.sleep(0.5)
        assert rss_mb(pid) < max_rss_mb, f"server RSS {rss_mb(pid):.0f} MB over the bound of {max_rss_mb:.0f} MB"
        now = cpu_seconds(pid)
        if now - last < 0.05:
            return time.time() - t0
        last = now
    pytest.fail(f"the server was still computing {seconds:g} s after the reply")
