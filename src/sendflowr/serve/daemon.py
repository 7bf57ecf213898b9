"""``sendflowr serve`` as a background process that ``up``, ``status`` and ``down`` manage.

Its pid is in ``SENDFLOWR_HOME/serve.pid`` and its log in ``SENDFLOWR_HOME/serve.log``;
``stop`` ends only the process that pid file names, and only if it is a serve.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx

from sendflowr.errors import ServiceError
from sendflowr.process.pidfile import owned_pid, terminate
from sendflowr.settings import Settings

__all__ = ["ServeProcess", "ServeStatus"]

# Popen handles of serves this process started, whichever ``ServeProcess`` stops them:
# reaped once they exit, so none is left a zombie or garbage-collected while "running".
_started: list[subprocess.Popen[bytes]] = []


def _reap() -> None:
    for proc in list(_started):
        if proc.poll() is not None:
            _started.remove(proc)


@dataclass(frozen=True, slots=True)
class ServeStatus:
    """Pid of the background serve and the health of each of its HTTP endpoints."""

    pid: int | None
    health: dict[str, bool]


class ServeProcess:
    """Start, find and stop a background ``sendflowr serve``. No I/O in the constructor."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        home = settings.home.resolve()
        self.pid_path = home / "serve.pid"
        self.log_path = home / "serve.log"

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
        return owned_pid(self.pid_path, b"sendflowr", b"serve")

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
                proc = subprocess.Popen(
                    [sys.executable, "-m", "sendflowr", "serve"],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    start_new_session=True,
                )
            _started.append(proc)
            self.pid_path.write_text(str(proc.pid))
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
        terminate(pid, timeout)
        for proc in _started:
            if proc.pid == pid:
                proc.wait(timeout=10)
        _reap()
        self.pid_path.unlink(missing_ok=True)
        return True
