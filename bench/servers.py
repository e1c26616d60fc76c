"""What the benchmarks and the browser tests need: Debian's Chromium, a free port, the studio
or the Streamlit workbench served in a child process, and a process's resident memory."""
from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from core.settings import REPO_ROOT, child_environment

CHROMIUM = "/usr/bin/chromium"
# Chromium's background services would keep dialling a network this machine does not have.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of process ``pid`` (this one by default), from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


class PeakRSS:
    """Process ``pid``'s RSS before (``before``), at most (``peak``) and after (``after``) the
    ``with`` block, in bytes, sampled every ``interval`` seconds."""

    def __init__(self, pid: int | str = "self", interval: float = 0.01):
        self.pid, self.interval = pid, interval
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_bytes(self.pid))

    def __enter__(self) -> "PeakRSS":
        self.before = self.peak = rss_bytes(self.pid)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.after = rss_bytes(self.pid)
        self.peak = max(self.peak, self.after)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(command: list[str], url: str, health_url: str, env: dict, what: str,
           start_timeout_s: float) -> Iterator[subprocess.Popen]:
    """``command`` run from the repository root; yields the process once ``health_url`` answers,
    stops it on exit. RuntimeError if it does not come up in time."""
    server = subprocess.Popen(command, cwd=REPO_ROOT, env=child_environment(HF_HUB_OFFLINE="1", **env),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + start_timeout_s
        while True:
            try:
                urllib.request.urlopen(health_url, timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"{what} did not start within {start_timeout_s:.0f} s") from None
                time.sleep(0.5)
        yield server
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


@contextlib.contextmanager
def streamlit_workbench(start_timeout_s: float = 120.0) -> Iterator[str]:
    """``streamlit run streamlit_app.py`` headless on a free port; yields its URL once healthy."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with served([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless=true",
                 f"--server.port={port}", "--browser.gatherUsageStats=false"],
                url, url + "_stcore/health", {}, "streamlit", start_timeout_s):
        yield url


@contextlib.contextmanager
def studio(env: dict | None = None, start_timeout_s: float = 120.0) -> Iterator[tuple[str, int]]:
    """``python -m app`` on a free port, as a Space runs it, with ``env`` added to its environment;
    yields (URL, server pid) once it answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with served([sys.executable, "-m", "app"], url, url, {"GRADIO_SERVER_PORT": str(port), **(env or {})},
                "the studio", start_timeout_s) as server:
        yield url, server.pid
