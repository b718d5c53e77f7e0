"""Real servers standing in for the outside world in tests: an SMTP server (aiosmtpd) and an
HTTP SMS gateway, each on a loopback port. Fixtures are registered in conftest.py."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller

from conftest import free_port


class Inbox:
    """aiosmtpd handler that keeps every message the server accepts."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted"

    def only_message(self) -> EmailMessage:
        assert len(self.envelopes) == 1
        return message_from_bytes(self.envelopes[0].content, policy=policy.default)


@pytest.fixture
def mail_server():
    """Start aiosmtpd servers on loopback ports: mail_server(**smtp_options) -> (port, inbox)."""
    controllers = []

    def start(**options) -> tuple[int, Inbox]:
        inbox = Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **options)
        controller.start()
        controllers.append(controller)
        return controller.port, inbox

    yield start
    for controller in controllers:
        controller.stop()


@dataclass
class GatewayRequest:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("utf-8"), strict_parsing=True)


class FakeGateway:
    """An HTTP server on loopback that records each request and answers from a script."""

    def __init__(self, answers: list[int], delay: float) -> None:
        self.requests: list[GatewayRequest] = []
        self.answers = answers  # status codes, one per request; 200 once they run out
        self.delay = delay
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/send"
        # A short poll interval keeps stop() quick.
        serve = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        serve.start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                gateway.requests.append(GatewayRequest(self.path, dict(self.headers), body))
                status = gateway.answers.pop(0) if gateway.answers else 200
                time.sleep(gateway.delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up waiting, as the timeout test wants

            def log_message(self, *args) -> None:
                pass

        return Handler

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway():
    """Start gateways: gateway(answers=[503, 200], delay=0) -> FakeGateway."""
    gateways = []

    def start(answers: tuple[int, ...] = (), delay: float = 0.0) -> FakeGateway:
        gateways.append(FakeGateway(list(answers), delay))
        return gateways[-1]

    yield start
    for started in gateways:
        started.stop()
