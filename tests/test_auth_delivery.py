"""Sign-in codes delivered for real: e-mail to an SMTP server (aiosmtpd), SMS to an HTTP gateway,
both on loopback, and what the person sees when one or both fail."""

from __future__ import annotations

import re

import requests
from test_auth_login import EMAIL, PHONE, resend, submit_code, submit_password

from idp.cli import create_user

from conftest import CITIZEN_NID, PASSWORD, free_port


def _provider(serve_provider, mail_port: int, gateway_url: str):
    provider = serve_provider(
        MAIL_SENDER="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=mail_port,
        SMTP_SECURITY="none",
        SMTP_TIMEOUT=2,
        SMS_SENDER="gateway",
        SMS_GATEWAY_URL=gateway_url,
        SMS_GATEWAY_TIMEOUT=2,
        SMS_GATEWAY_RETRIES=0,
        OTP_RESEND_COOLDOWN=0,
    )
    with provider.app.app_context():
        create_user(
            kind="citizen", identifier=CITIZEN_NID, password=PASSWORD, email=EMAIL, phone=PHONE
        )
    return provider


def _code(text: str) -> str:
    return re.search(r"\b(\d{6})\b", text).group(1)


def test_the_same_code_arrives_by_sms_gateway_and_smtp(serve_provider, mail_server, gateway):
    port, inbox = mail_server()
    sms = gateway()
    provider = _provider(serve_provider, port, sms.url)
    browser = requests.Session()
    submit_password(browser, provider, CITIZEN_NID)
    sms_request = sms.requests[0].json()
    assert sms_request["to"] == PHONE
    mail = inbox.only_message()
    assert mail["To"] == EMAIL
    assert _code(sms_request["text"]) == _code(mail.get_content())
    done = submit_code(browser, provider, _code(sms_request["text"]))
    assert done.url.endswith("/account")


def test_a_failed_sms_is_said_plainly_and_the_email_code_still_works(
    serve_provider, mail_server, gateway
):
    port, inbox = mail_server()
    sms = gateway(answers=(503,))
    provider = _provider(serve_provider, port, sms.url)
    browser = requests.Session()
    page = submit_password(browser, provider, CITIZEN_NID)
    english = browser.get(f"{provider.url}/code?lang=en").text
    assert "not delivered" in english
    done = submit_code(browser, provider, _code(inbox.only_message().get_content()))
    assert done.url.endswith("/account")
    assert page.status_code == 200


def test_when_nothing_can_be_sent_the_person_can_retry(serve_provider, mail_server, gateway):
    closed_port = free_port()
    sms = gateway(answers=(503,))
    provider = _provider(serve_provider, closed_port, sms.url)
    browser = requests.Session()
    submit_password(browser, provider, CITIZEN_NID)
    english = browser.get(f"{provider.url}/code?lang=en").text
    assert "could not send" in english
    # The code in the refused SMS was never received, so it does not exist.
    undelivered = _code(sms.requests[-1].json()["text"])
    refused = submit_code(browser, provider, undelivered)
    assert refused.status_code == 400 and "there is none to enter" in refused.text
    # The gateway recovers: "Send a new code" delivers.
    resent = resend(browser, provider)
    assert resent.status_code == 200
    code = _code(sms.requests[-1].json()["text"])
    assert submit_code(browser, provider, code).url.endswith("/account")
