"""``sendflowr serve`` as a background process that ``up``, ``status`` and ``down`` manage.

Its pid is in ``SENDFLOWR_HOME/serve.pid`` and its log in ``SENDFLOWR_HOME/serve.log``;
``stop`` ends only the process that pid file names, and only if it is a serve.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from sendflowr.errors import ServiceError
from sendflowr.settings import Settings

__all__ = ["ServeProcess", "ServeStatus"]


@dataclass(frozen=True, slots=True)
class ServeStatus:
    """Pid of the background serve and the health of each of its HTTP endpoints."""

    pid: int | None
    health: dict[str, bool]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (ProcessLookupError, PermissionError, OSError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class ServeProcess:
    """Start, find and stop a background ``sendflowr serve``. No I/O in the constructor."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        home = settings.home.resolve()
        self.pid_path = home / "serve.pid"
        self.log_path = home / "serve.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def endpoints(self) -> dict[str, str]:
        """Health URL of each HTTP endpoint of a full serve."""
        s = self._settings
        return {
            "connector": f"http://127.0.0.1:{s.connector_port}/health",
            "inference": f"http://127.0.0.1:{s.inference_port}/health",
            "admin": f"http://127.0.0.1:{s.admin_port}/health",
        }

    def running_pid(self) -> int | None:
        """Pid of the serve started from this home, if alive."""
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None
        if not _alive(pid):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        return pid if b"serve" in cmdline and b"sendflowr" in cmdline else None

    def health(self) -> dict[str, bool]:
        """Which endpoints answer 200 on /health now."""
        result = {}
        for name, url in self.endpoints().items():
            try:
                result[name] = httpx.get(url, timeout=2.0).status_code == 200
            except httpx.HTTPError:
                result[name] = False
        return result

    def status(self) -> ServeStatus:
        """Pid and endpoint health."""
        return ServeStatus(self.running_pid(), self.health())

    def start(self, timeout: float = 90.0) -> bool:
        """Start serve in the background unless it runs; wait until healthy. True if started."""
        started = False
        if self.running_pid() is None:
            self.pid_path.parent.mkdir(parents=True, exist_ok=True)
            env = dict(os.environ, SENDFLOWR_HOME=str(self._settings.home.resolve()))
            with open(self.log_path, "ab") as log:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "sendflowr", "serve"],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    start_new_session=True,
                )
            self.pid_path.write_text(str(self._proc.pid))
            started = True
        deadline = time.monotonic() + timeout
        while True:
            if all(self.health().values()):
                return started
            if self.running_pid() is None:
                raise ServiceError(f"sendflowr serve exited; see {self.log_path}")
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"sendflowr serve not healthy after {timeout:.0f}s; see {self.log_path}"
                )
            time.sleep(0.3)

    def stop(self, timeout: float = 60.0) -> bool:
        """SIGTERM the background serve (it finishes its batch) and wait. True if one ran."""
        pid = self.running_pid()
        if pid is None:
            self.pid_path.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        if self._proc is not None:
            self._proc.wait(timeout=10)
        self.pid_path.unlink(missing_ok=True)
        return True
