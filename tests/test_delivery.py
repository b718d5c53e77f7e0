"""Senders of one-time codes, against real servers on loopback: an aiosmtpd SMTP server, an HTTP
server standing in for the SMS gateway, and the outbox file written by several processes."""

from __future__ import annotations

import ipaddress
import json
import multiprocessing
import re
import socket
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from delivery_servers import FakeGateway, Inbox  # noqa: F401

from idp import config
from idp.delivery import DeliveryError, Message, create_senders
from idp.delivery.mail import SmtpSender
from idp.delivery.outbox import OutboxSender
from idp.delivery.sms import SmsGatewaySender

from conftest import free_port

FROM = "e-Albania <no-reply@e-albania.al>"
EMAIL = "arta@example.org"
PHONE = "+355690000001"
SUBJECT = "Kodi i hyrjes në e-Albania"
TEXT = "Kodi juaj është 482913. Mos ia jepni askujt. Për çdo pyetje shkruani në login@e-albania.al."
CODE_BY_EMAIL = Message(to=EMAIL, channel="email", text=TEXT, subject=SUBJECT)
CODE_BY_SMS = Message(to=PHONE, channel="sms", text=TEXT)
SMTP_USER = "idp"
SMTP_PASSWORD = "the-right-smtp-password"
GATEWAY_CREDENTIAL = "Bearer gateway-secret-credential"


def settings(**overrides) -> dict:
    """Validated settings as the app would have them, untouched by this machine's IDP_* vars."""
    loaded = config.load(overrides, environ={})
    config.validate(loaded)
    return loaded


# -- SMTP ---------------------------------------------------------------------------------------


def accept_only_the_right_password(server, session, envelope, mechanism, auth_data) -> AuthResult:
    right = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    # handled=False: aiosmtpd itself answers 535 on failure (handled=True means "I already did").
    return AuthResult(success=right, handled=False)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (certificate file, private key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
def server_tls(certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture
def trusting_test_certificate(certificate) -> ssl.SSLContext:
    """What the sender uses in place of the system trust store to accept the test server."""
    return ssl.create_default_context(cafile=str(certificate[0]))


def smtp_sender(port: int, **options) -> SmtpSender:
    options = {"security": "none", "sender": FROM, "timeout": 2, **options}
    return SmtpSender("127.0.0.1", port, **options)


def test_plain_smtp_delivers_albanian_text_intact_with_the_usual_headers(mail_server):
    port, inbox = mail_server()

    smtp_sender(port).send(CODE_BY_EMAIL)

    envelope = inbox.envelopes[0]
    assert envelope.mail_from == "no-reply@e-albania.al"
    assert envelope.rcpt_tos == [EMAIL]
    received = inbox.only_message()
    assert received["From"] == FROM
    assert received["To"] == EMAIL
    assert received["Subject"] == SUBJECT
    assert received.get_content_type() == "text/plain"
    assert received.get_content_charset() == "utf-8"
    assert received.get_content().rstrip("\r\n") == TEXT
    assert received["Date"]
    assert received["Message-ID"].endswith("@e-albania.al>")


def test_starttls_delivers_to_a_server_that_requires_it(
    mail_server, server_tls, trusting_test_certificate
):
    port, inbox = mail_server(tls_context=server_tls, require_starttls=True)

    smtp_sender(port, security="starttls", ssl_context=trusting_test_certificate).send(
        CODE_BY_EMAIL
    )

    assert inbox.only_message().get_content().rstrip("\r\n") == TEXT


def test_starttls_refuses_a_certificate_the_system_does_not_trust(mail_server, server_tls):
    port, inbox = mail_server(tls_context=server_tls, require_starttls=True)

    with pytest.raises(DeliveryError, match="TLS with the mail server failed"):
        smtp_sender(port, security="starttls").send(CODE_BY_EMAIL)
    assert inbox.envelopes == []


def test_server_without_starttls_gets_nothing_rather_than_the_code_in_clear(mail_server):
    port, inbox = mail_server()

    with pytest.raises(DeliveryError, match="STARTTLS"):
        smtp_sender(port, security="starttls").send(CODE_BY_EMAIL)
    assert inbox.envelopes == []


def test_implicit_tls_delivers(mail_server, server_tls, trusting_test_certificate):
    port, inbox = mail_server(ssl_context=server_tls)

    smtp_sender(port, security="tls", ssl_context=trusting_test_certificate).send(CODE_BY_EMAIL)

    assert inbox.only_message()["Subject"] == SUBJECT


@pytest.fixture
def authenticating_mail_server(mail_server, server_tls):
    return mail_server(
        tls_context=server_tls,
        require_starttls=True,
        authenticator=accept_only_the_right_password,
        auth_required=True,
        auth_require_tls=True,
    )


def test_login_with_the_right_password_delivers(
    authenticating_mail_server, trusting_test_certificate
):
    port, inbox = authenticating_mail_server
    sender = smtp_sender(
        port,
        security="starttls",
        ssl_context=trusting_test_certificate,
        username=SMTP_USER,
        password=SMTP_PASSWORD,
    )

    sender.send(CODE_BY_EMAIL)

    assert len(inbox.envelopes) == 1


def test_wrong_smtp_password_fails_without_revealing_it(
    authenticating_mail_server, trusting_test_certificate
):
    port, inbox = authenticating_mail_server
    sender = smtp_sender(
        port,
        security="starttls",
        ssl_context=trusting_test_certificate,
        username=SMTP_USER,
        password="a-wrong-password",
    )

    with pytest.raises(DeliveryError, match="refused the login: 535") as failure:
        sender.send(CODE_BY_EMAIL)
    assert "a-wrong-password" not in str(failure.value)
    assert inbox.envelopes == []


def test_unreachable_mail_server_fails_at_once():
    started = time.monotonic()

    with pytest.raises(DeliveryError, match="mail server unreachable"):
        smtp_sender(free_port(), timeout=0.5).send(CODE_BY_EMAIL)
    assert time.monotonic() - started < 1


def test_mail_server_that_never_greets_times_out():
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        with pytest.raises(DeliveryError, match="mail server unreachable: timeout"):
            smtp_sender(port, timeout=0.2).send(CODE_BY_EMAIL)


# -- SMS gateway --------------------------------------------------------------------------------


def gateway_settings(url: str, **overrides) -> dict:
    return settings(
        SMS_SENDER="gateway",
        SMS_GATEWAY_URL=url,
        SMS_GATEWAY_CREDENTIAL=GATEWAY_CREDENTIAL,
        **overrides,
    )


def test_json_payload_carries_number_text_extra_fields_and_credential(gateway):
    fake = gateway()
    config_ = gateway_settings(
        fake.url,
        SMS_GATEWAY_AUTH_HEADER="X-Api-Key",
        SMS_GATEWAY_TO_FIELD="msisdn",
        SMS_GATEWAY_TEXT_FIELD="message",
        SMS_GATEWAY_EXTRA_FIELDS='{"sender": "eAlbania", "priority": 1}',
    )

    create_senders(config_, "/nonexistent")["sms"].send(CODE_BY_SMS)

    [request] = fake.requests
    assert request.path == "/send"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Api-Key"] == GATEWAY_CREDENTIAL
    assert request.json() == {
        "msisdn": PHONE,
        "message": TEXT,
        "sender": "eAlbania",
        "priority": 1,
    }


def test_form_payload_uses_the_configured_field_names(gateway):
    fake = gateway()
    config_ = gateway_settings(
        fake.url,
        SMS_GATEWAY_FORMAT="form",
        SMS_GATEWAY_TO_FIELD="number",
        SMS_GATEWAY_EXTRA_FIELDS='{"from": "eAlbania"}',
    )

    create_senders(config_, "/nonexistent")["sms"].send(CODE_BY_SMS)

    [request] = fake.requests
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["Authorization"] == GATEWAY_CREDENTIAL
    assert request.form() == {"number": [PHONE], "text": [TEXT], "from": ["eAlbania"]}


def test_no_credential_means_no_auth_header(gateway):
    fake = gateway()

    SmsGatewaySender(fake.url).send(CODE_BY_SMS)

    assert "Authorization" not in fake.requests[0].headers


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_any_2xx_answer_is_success(gateway, status):
    fake = gateway(answers=(status,))

    SmsGatewaySender(fake.url, retries=2).send(CODE_BY_SMS)

    assert len(fake.requests) == 1


def test_gateway_failing_once_then_accepting_delivers_on_the_retry(gateway):
    fake = gateway(answers=(503, 200))

    SmsGatewaySender(fake.url, retries=1, backoff=0.01).send(CODE_BY_SMS)

    assert len(fake.requests) == 2


def test_gateway_always_failing_is_tried_once_plus_retries_then_fails(gateway):
    fake = gateway(answers=(503,) * 10)
    sender = SmsGatewaySender(fake.url, credential=GATEWAY_CREDENTIAL, retries=2, backoff=0.01)

    with pytest.raises(DeliveryError, match="SMS gateway answered 503") as failure:
        sender.send(CODE_BY_SMS)
    assert len(fake.requests) == 3
    assert "gateway-secret-credential" not in str(failure.value)
    assert "482913" not in str(failure.value)


@pytest.mark.parametrize("status", [400, 401, 302])
def test_rejected_request_is_not_retried(gateway, status):
    fake = gateway(answers=(status,))

    with pytest.raises(DeliveryError, match=f"SMS gateway answered {status}"):
        SmsGatewaySender(fake.url, retries=2, backoff=0.01).send(CODE_BY_SMS)
    assert len(fake.requests) == 1


def test_gateway_slower_than_the_timeout_fails_after_retrying(gateway):
    fake = gateway(delay=0.5)
    sender = SmsGatewaySender(fake.url, timeout=0.15, retries=1, backoff=0.01)

    with pytest.raises(DeliveryError, match="SMS gateway unreachable: timeout"):
        sender.send(CODE_BY_SMS)
    assert len(fake.requests) == 2


def test_unreachable_gateway_fails_without_quoting_the_url():
    url = f"http://127.0.0.1:{free_port()}/send?api_key=secret-in-the-query"

    with pytest.raises(DeliveryError, match="SMS gateway unreachable: ") as failure:
        SmsGatewaySender(url, retries=0).send(CODE_BY_SMS)
    assert "secret-in-the-query" not in str(failure.value)


@pytest.mark.parametrize("extra_fields", ["{not json", "[1, 2]", '"sender"'])
def test_extra_fields_that_are_not_a_json_object_are_refused_naming_the_setting(extra_fields):
    config_ = gateway_settings("https://sms.example", SMS_GATEWAY_EXTRA_FIELDS=extra_fields)

    with pytest.raises(config.ConfigError, match="IDP_SMS_GATEWAY_EXTRA_FIELDS"):
        create_senders(config_, "/nonexistent")


# -- Choosing senders ---------------------------------------------------------------------------


def test_default_settings_send_both_channels_to_the_outbox_under_the_instance(tmp_path):
    senders = create_senders(settings(), str(tmp_path))

    senders["sms"].send(CODE_BY_SMS)
    senders["email"].send(CODE_BY_EMAIL)

    lines = (tmp_path / "outbox.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["channel"] for line in lines] == ["sms", "email"]


def test_gateway_and_smtp_are_chosen_by_the_settings():
    config_ = gateway_settings("https://sms.example", MAIL_SENDER="smtp")

    senders = create_senders(config_, "/nonexistent")

    assert isinstance(senders["sms"], SmsGatewaySender)
    assert isinstance(senders["email"], SmtpSender)


def test_a_message_names_a_known_channel():
    with pytest.raises(ValueError, match="channel"):
        Message(to=PHONE, channel="fax", text=TEXT)


# -- Outbox -------------------------------------------------------------------------------------


def read_outbox(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_outbox_line_holds_exactly_to_channel_text_and_utc_time(tmp_path):
    outbox = tmp_path / "outbox.jsonl"

    OutboxSender(outbox).send(CODE_BY_EMAIL)

    [record] = read_outbox(outbox)
    assert set(record) == {"to", "channel", "text", "sent_at"}
    assert (record["to"], record["channel"], record["text"]) == (EMAIL, "email", TEXT)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", record["sent_at"])
    sent_at = datetime.fromisoformat(record["sent_at"])
    assert abs(datetime.now(UTC) - sent_at) < timedelta(seconds=5)
    # Readable as written: Albanian letters are not escaped.
    assert "është" in outbox.read_text(encoding="utf-8")


def test_outbox_is_created_private_with_its_directory(tmp_path):
    outbox = tmp_path / "not" / "yet" / "outbox.jsonl"

    OutboxSender(outbox).send(CODE_BY_SMS)

    assert outbox.stat().st_mode & 0o777 == 0o600


def test_unwritable_outbox_is_a_delivery_error(tmp_path):
    (tmp_path / "a-file").write_text("")

    with pytest.raises(DeliveryError, match="outbox"):
        OutboxSender(tmp_path / "a-file" / "outbox.jsonl").send(CODE_BY_SMS)


THREADS = 4
MESSAGES_PER_THREAD = 25
# Well above PIPE_BUF (4096), so that whole lines depend on the lock, not on luck.
LONG_TEXT = "ë" * 6000


def append_from_threads(path: Path, writer: str) -> None:
    """Append THREADS x MESSAGES_PER_THREAD long messages, each naming its writer and number."""
    sender = OutboxSender(path)

    def append(thread: int) -> None:
        for number in range(MESSAGES_PER_THREAD):
            text = f"{writer}-{thread}-{number} {LONG_TEXT}"
            sender.send(Message(to=PHONE, channel="sms", text=text))

    threads = [threading.Thread(target=append, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_concurrent_appends_from_threads_and_processes_keep_every_line_whole(tmp_path):
    outbox = tmp_path / "outbox.jsonl"
    # fork: the child needs no fresh interpreter (importing idp takes most of a second).
    fork = multiprocessing.get_context("fork")
    other = fork.Process(target=append_from_threads, args=(outbox, "child"))

    other.start()
    append_from_threads(outbox, "parent")
    other.join(timeout=10)

    assert other.exitcode == 0
    texts = [record["text"] for record in read_outbox(outbox)]
    expected = {
        f"{writer}-{thread}-{number} {LONG_TEXT}"
        for writer in ("parent", "child")
        for thread in range(THREADS)
        for number in range(MESSAGES_PER_THREAD)
    }
    assert len(texts) == len(expected)
    assert set(texts) == expected
