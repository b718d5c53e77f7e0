#!/usr/bin/env python3
"""Run the provider and its demo portal, or the tests, on a development machine.

    python3 dev.py run                    provider on :5000, portal on :5001, demo accounts
    python3 dev.py test [pytest args...]  the test suite (add --with-browser to install chromium)

Needs only Python 3.11+ (with its venv module): the first run creates .venv/ and installs the
project into it; later runs install again only when setup.cfg or pyproject.toml changed.
Linux and macOS. Standard library only, so that it works before anything is installed.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_BIN = VENV / "bin"
VENV_PYTHON = VENV_BIN / "python"
# Hash of the files below at the last successful install: unchanged means nothing to install.
INSTALL_STAMP = VENV / ".dev-install-stamp"
INSTALL_INPUTS = ("setup.cfg", "pyproject.toml")
MINIMUM_PYTHON = (3, 11)
CHROMIUM = Path("/usr/bin/chromium")
OUTBOX = ROOT / "instance" / "outbox.jsonl"
# How long services get to start listening, and to stop after SIGTERM before being killed.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
# The style checks of a full test run (ruff.toml configures them).
LINT_COMMANDS = (("check", "."), ("format", "--check", "."))
USAGE = "usage: python3 dev.py run | python3 dev.py test [--with-browser] [pytest args...]"


@dataclass(frozen=True)
class Service:
    """A Flask app that `dev.py run` serves on a loopback port."""

    name: str
    app: str  # the import name given to `flask --app`
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


# What `dev.py run` starts; the provider comes first. A new relying party is one more line.
SERVICES = (
    Service("provider", "idp", 5000),
    Service("portal", "clients.portal", 5001),
    Service("agency", "clients.agency", 5002),
)
PROVIDER, PORTAL, AGENCY = SERVICES

# Set for `run` unless the developer has set them already.
DEVELOPMENT_ENVIRONMENT = {
    "IDP_ENV": "development",
    "IDP_ISSUER": PROVIDER.url,
    # The provider's debug mode (templates reload when edited). Not FLASK_DEBUG: its reloader
    # keeps a service that fails to import "running", and a broken service should stop `run`.
    "IDP_DEBUG": "true",
    "PYTHONUNBUFFERED": "1",  # children's output appears as it happens, in order
}


def main(argv: list[str]) -> int:
    require_python()
    # SIGTERM stops dev.py the way Ctrl-C does, so that its children are stopped too.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    if command == "run" and not args:
        return run()
    if command == "test":
        return test(args)
    print(USAGE, file=sys.stderr)
    return 2


def require_python() -> None:
    if sys.version_info < MINIMUM_PYTHON:
        sys.exit(
            f"dev.py needs Python {'.'.join(map(str, MINIMUM_PYTHON))} or newer; "
            f"{sys.executable} is {platform.python_version()}. Run it with a newer python3."
        )


# -- the virtualenv --------------------------------------------------------------------------


def ensure_virtualenv() -> None:
    """Create .venv/ if needed and install the project into it when its metadata changed."""
    if not VENV_PYTHON.exists():  # missing, or its interpreter was removed or upgraded away
        create_virtualenv()
    fingerprint = install_fingerprint()
    if INSTALL_STAMP.exists() and INSTALL_STAMP.read_text() == fingerprint:
        return
    print("Installing the project and its test tools into .venv/ ...", flush=True)
    pip = [str(VENV_PYTHON), "-m", "pip", "install", "--quiet"]
    if execute([*pip, "-e", ".[test]"], cwd=ROOT).returncode != 0:
        sys.exit("dev.py: pip install -e '.[test]' failed (see above); the next run tries again.")
    INSTALL_STAMP.write_text(fingerprint)


def create_virtualenv() -> None:
    # Debian and Ubuntu ship venv's ensurepip separately, in python3-venv.
    if not (importlib.util.find_spec("venv") and importlib.util.find_spec("ensurepip")):
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        sys.exit(
            f"dev.py: {sys.executable} lacks the venv module (or its ensurepip).\n"
            f"On Debian/Ubuntu install it with: sudo apt-get install python3-venv "
            f"(or python{version}-venv), then run dev.py again."
        )
    print(f"Creating .venv/ with {sys.executable} ({platform.python_version()}) ...", flush=True)
    result = execute([sys.executable, "-m", "venv", "--clear", str(VENV)])
    if result.returncode != 0:
        shutil.rmtree(VENV, ignore_errors=True)  # a half-made venv would look usable next time
        sys.exit("dev.py: could not create .venv/ (see above).")


def install_fingerprint() -> str:
    digest = hashlib.sha256()
    for name in INSTALL_INPUTS:
        path = ROOT / name
        digest.update(name.encode() + b"\0")
        digest.update(path.read_bytes() if path.exists() else b"(missing)")
    return digest.hexdigest()


def venv_command(name: str, *args: str) -> list[str]:
    return [str(VENV_BIN / name), *args]


def execute(command: list[str], **options: Any) -> subprocess.CompletedProcess:
    """Run one of this script's own commands: a fixed argument list, never a shell."""
    return subprocess.run(command, **options)  # noqa: S603 - fixed argument lists, no shell


# -- run ------------------------------------------------------------------------------------


def run() -> int:
    """Migrate, seed demo data, serve every service until Ctrl-C or until one of them dies."""
    try:
        ensure_virtualenv()
        environment = development_environment()
        busy = [service for service in SERVICES if port_in_use(service.port)]
        if busy:
            for service in busy:
                print(
                    f"dev.py: port {service.port} ({service.name}) is already in use "
                    "(another `dev.py run`?).",
                    file=sys.stderr,
                )
            return 1
        step(["idp", "db", "upgrade"], environment)
        demo = step(
            ["idp", "demo", "--portal-url", PORTAL.url, "--agency-url", AGENCY.url],
            environment,
            capture=True,
        )
    except KeyboardInterrupt:
        return 130
    processes: dict[Service, subprocess.Popen] = {}
    try:
        for service in SERVICES:
            processes[service] = start(service, environment)
        if wait_until_listening(processes):
            print_banner(demo)
            wait_for_first_exit(processes)
        return 1  # a service exited by itself
    except KeyboardInterrupt:
        print("\nStopping ...")
        return 0
    finally:
        stop(processes)


def development_environment() -> dict[str, str]:
    environment = dict(os.environ)
    for name, value in DEVELOPMENT_ENVIRONMENT.items():
        environment.setdefault(name, value)
    return environment


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def step(command: list[str], environment: dict[str, str], capture: bool = False) -> str:
    """Run one preparation command from .venv/bin; stop `run` if it fails."""
    result = execute(
        venv_command(*command),
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE if capture else None,
        text=True,
    )
    if result.returncode != 0:
        sys.exit(f"dev.py: `{' '.join(command)}` failed with exit code {result.returncode}.")
    return result.stdout or ""


def start(service: Service, environment: dict[str, str]) -> subprocess.Popen:
    command = venv_command("flask", "--app", service.app, "run", "--host", "127.0.0.1")
    command += ["--port", str(service.port)]
    # A session of its own: Ctrl-C reaches only dev.py, which then stops each service's whole
    # process group (a reloader's child included), in order, and waits for it.
    return subprocess.Popen(  # noqa: S603 - a fixed argument list, no shell
        command, cwd=ROOT, env=environment, stdin=subprocess.DEVNULL, start_new_session=True
    )


def wait_until_listening(processes: dict[Service, subprocess.Popen]) -> bool:
    """True once every service accepts connections; False (and says why) if one died first."""
    deadline = time.monotonic() + START_TIMEOUT
    waiting = list(processes)
    while waiting:
        if report_exited(processes):
            return False
        waiting = [service for service in waiting if not port_in_use(service.port)]
        if waiting and time.monotonic() > deadline:
            names = ", ".join(service.name for service in waiting)
            print(f"dev.py: still not listening after {START_TIMEOUT:.0f} s: {names}; going on.")
            return True
        time.sleep(0.2)
    return True


def wait_for_first_exit(processes: dict[Service, subprocess.Popen]) -> None:
    """Until a service exits, show each new message of the development outbox (the codes)."""
    outbox = OutboxTail(OUTBOX)
    while not report_exited(processes):
        outbox.print_new()
        time.sleep(0.5)


class OutboxTail:
    """Prints messages appended to the outbox since it was created (one JSON object a line)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def print_new(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits
        self.offset += len(complete)
        for line in complete.decode("utf-8").splitlines():
            try:
                message = json.loads(line)
                print(f"  [{message['channel']} to {message['to']}] {message['text']}", flush=True)
            except (ValueError, KeyError):
                print(f"  [outbox] {line}", flush=True)


def report_exited(processes: dict[Service, subprocess.Popen]) -> bool:
    for service, process in processes.items():
        code = process.poll()
        if code is not None:
            print(
                f"\ndev.py: the {service.name} ({service.app} on port {service.port}) exited "
                f"with code {code}; stopping the others.",
                file=sys.stderr,
            )
            return True
    return False


def stop(processes: dict[Service, subprocess.Popen]) -> None:
    """SIGTERM each service's process group, then SIGKILL what is left after STOP_TIMEOUT."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not orphan children
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for process in processes.values():
        signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for process in processes.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        # Also after a clean exit: a reloader's child may outlive its parent.
        signal_group(process, signal.SIGKILL)
        process.wait()


def signal_group(process: subprocess.Popen, signum: int) -> None:
    # The group's id is its leader's pid (start_new_session); it is gone once all have exited.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def print_banner(demo_output: str) -> None:
    lines = ["", "=" * 72]
    lines += [f"  {service.name:<10} {service.url}" for service in SERVICES]
    lines.append(f"  discovery  {PROVIDER.url}/.well-known/openid-configuration")
    try:
        demo = json.loads(demo_output)
    except ValueError:  # `idp demo` printed something else: show it as it is
        lines += ["", demo_output.rstrip()]
    else:
        lines += ["", f"  Demo accounts (password for all: {demo['password']})"]
        lines += [
            f"    {account['kind']:<9} {account['identifier']}  {account['name']}"
            for account in demo["accounts"]
        ]
    lines += [
        "",
        f"  One-time codes (SMS, e-mail) go to {OUTBOX.relative_to(ROOT)} and appear below.",
    ]
    lines += ["", "  Ctrl-C stops everything.", "=" * 72, ""]
    print("\n".join(lines), flush=True)


# -- test -----------------------------------------------------------------------------------


def test(args: list[str]) -> int:
    """Run pytest in .venv/ with `args`; a run that collects no test fails. The full run (no
    pytest args) checks lint and formatting with ruff first, as CI does."""
    with_browser = "--with-browser" in args
    pytest_args = [arg for arg in args if arg != "--with-browser"]
    if with_browser or os.environ.get("CI") == "true":
        ensure_chromium()
    ensure_virtualenv()
    lint_failed = False
    if not pytest_args:
        for command in LINT_COMMANDS:
            if execute([str(VENV_BIN / "ruff"), *command], cwd=ROOT).returncode != 0:
                lint_failed = True
    code = execute([str(VENV_PYTHON), "-m", "pytest", *pytest_args], cwd=ROOT).returncode
    if code == 5:  # pytest's "no tests collected": a run that checked nothing is not a pass
        print("dev.py: pytest collected no tests; that counts as a failure.", file=sys.stderr)
    if lint_failed:
        print("dev.py: ruff found problems (see above); `ruff format .` fixes formatting.")
        return code or 1
    return code


def ensure_chromium() -> None:
    """Install Debian's chromium for the browser tests when we are root; otherwise say so."""
    if CHROMIUM.exists():
        return
    if not Path("/etc/debian_version").exists() or shutil.which("apt-get") is None:
        print(f"dev.py: {CHROMIUM} not found; browser tests will be skipped.")
        return
    if os.geteuid() != 0:
        print(
            f"dev.py: {CHROMIUM} not found and not root, so not installing it; browser tests "
            "will be skipped (sudo apt-get install chromium to run them)."
        )
        return
    print("Installing chromium for the browser tests (apt-get) ...", flush=True)
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        result = execute(
            command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        if result.returncode != 0:
            print(result.stdout[-2000:], end="")
            print(f"dev.py: `{' '.join(command)}` failed; browser tests will be skipped.")
            return


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:  # Ctrl-C while installing or testing: no traceback
        sys.exit(130)
