"""A moto server whose IAM answers like real IAM's: slowly, and throttled past a rate.

moto answers in about a millisecond and never throttles. This WSGI middleware around moto's
own application adds a fixed delay to every IAM request and, when a rate is set, answers
IAM's Throttling error (HTTP 400, as IAM's query protocol does) to requests beyond it in any
one-second window, without passing them to moto. Other services are untouched.

    python bench/slow_moto.py PORT
    POST /bench-config?delay_ms=50&rate=20   (rate 0: unlimited) resets the counters
    GET  /bench-stats                         {"iam_requests", "throttled", "max_admitted_per_second"}
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

THROTTLED = (
    b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
    b"<Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    b"<RequestId>bench</RequestId></ErrorResponse>"
)


class SlowIam:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.delay = 0.0
        self.rate = 0
        self.reset()

    def reset(self) -> None:
        self.requests = self.throttled = self.max_admitted = 0
        self.window, self.admitted = 0, 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/bench-config":
            query = parse_qs(environ.get("QUERY_STRING", ""))
            with self.lock:
                self.delay = float(query.get("delay_ms", ["0"])[0]) / 1000
                self.rate = int(query.get("rate", ["0"])[0])
                self.reset()
            return self._json(start_response, {"delay_ms": self.delay * 1000, "rate": self.rate})
        if path == "/bench-stats":
            stats = {"iam_requests": self.requests, "throttled": self.throttled}
            return self._json(start_response, {**stats, "max_admitted_per_second": self.max_admitted})
        if "/iam/aws4_request" not in environ.get("HTTP_AUTHORIZATION", ""):
            return self.app(environ, start_response)
        with self.lock:
            self.requests += 1
            second = int(time.monotonic())
            if second != self.window:
                self.window, self.admitted = second, 0
            over = bool(self.rate) and self.admitted >= self.rate
            if over:
                self.throttled += 1
            else:
                self.admitted += 1
                self.max_admitted = max(self.max_admitted, self.admitted)
        time.sleep(self.delay)
        if over:
            start_response("400 Bad Request", [("Content-Type", "text/xml")])
            return [THROTTLED]
        return self.app(environ, start_response)

    @staticmethod
    def _json(start_response: Callable[..., Any], body: dict[str, Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]


def main() -> None:
    app = SlowIam(DomainDispatcherApplication(create_backend_app))
    run_simple("127.0.0.1", int(sys.argv[1]), app, threaded=True)


if __name__ == "__main__":
    main()
