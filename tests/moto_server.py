"""A local moto server in its own process, for the end-to-end tests and the benchmark."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request


def start(
    extra_env: dict[str, str] | None = None, command: list[str] | None = None
) -> tuple[subprocess.Popen, str]:
    """Start moto on a free loopback port; return the process and its URL once it answers.

    ``command``: another server script taking the port as its last argument (bench/slow_moto.py).
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [*command, str(port)]
        if command
        else [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(extra_env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
            return server, url
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("moto server did not start within 10 s")


def reset(url: str) -> None:
    """Forget every resource: a fresh account."""
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
