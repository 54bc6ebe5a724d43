"""A real ``redis-server`` (Debian's package) for the tests: on a free port, in a directory
of its own, nothing saved to disk, optionally with a password; killed and started again
on the same port at will."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Optional

#: The server binary: $REDIS_SERVER, else redis-server on PATH (apt-get install redis-server).
REDIS_SERVER = os.environ.get("REDIS_SERVER") or shutil.which("redis-server") or \
    "/usr/bin/redis-server"


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """``redis-server`` on 127.0.0.1.

    Args:
        directory (Path): Its working directory (config file, log).
        password (str or None): ``requirepass`` (kept in the config file, not on
            the server's command line).
    """

    def __init__(self, directory: Path, *, password: Optional[str] = None) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.password = password
        self.port = free_port()
        self.proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        """``redis://[:password@]127.0.0.1:PORT/0``."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def where(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self):
        """A redis-py client of this server (with its password)."""
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password,
                           socket_timeout=5)

    def start(self, timeout: float = 30.0) -> RedisServer:
        """Start the server (again, on the same port) and wait until it answers PING."""
        config = self.directory / "redis.conf"
        lines = [f"port {self.port}", "bind 127.0.0.1", 'save ""', "appendonly no",
                 f"dir {self.directory}", f"logfile {self.directory / 'redis.log'}"]
        if self.password:
            lines.append(f"requirepass {self.password}")
        config.write_text("\n".join(lines) + "\n")
        self.proc = subprocess.Popen([REDIS_SERVER, str(config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        client = self.client()
        while True:
            try:
                client.ping()
                break
            except Exception:  # noqa: BLE001 - not listening yet
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log = self.directory / "redis.log"
                    raise RuntimeError(f"redis-server did not start on port {self.port}: "
                                       f"{log.read_text() if log.exists() else ''}") from None
                time.sleep(0.02)
        client.close()
        return self

    def kill(self) -> None:
        """SIGKILL the server (as a crash or a lost host would end it) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=30)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.kill()
