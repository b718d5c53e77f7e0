"""The shipped configuration files stay in step with idp.config, and production stays strict."""

from __future__ import annotations

import secrets
import tomllib
from pathlib import Path

import pytest

from idp import config, create_app
from idp.delivery import create_senders
from idp.delivery.mail import SmtpSender
from idp.delivery.sms import SmsGatewaySender

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
DEFAULT_FILE = CONFIG_DIR / "default.toml"
PRODUCTION_EXAMPLE = CONFIG_DIR / "production.example.toml"
SECRET_SETTINGS = {
    "SECRET_KEY",
    "KEY_PASSPHRASE",
    "PAIRWISE_SALT",
    "ADMIN_TOKEN",
    "SMS_GATEWAY_CREDENTIAL",
    "SMTP_PASSWORD",
}
# What an operator supplies beside the example, through the environment.
PRODUCTION_SECRETS = {
    "IDP_SECRET_KEY": "a-production-secret-key-of-at-least-32-characters",
    "IDP_KEY_PASSPHRASE": "a-production-key-passphrase",
    "IDP_PAIRWISE_SALT": "a-production-pairwise-salt",
    "IDP_SMS_GATEWAY_CREDENTIAL": "Bearer a-production-gateway-credential",
    "IDP_SMTP_PASSWORD": "a-production-smtp-password",
}


def read_toml(path: Path) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def production_environment(**changes: str) -> dict[str, str]:
    return {"IDP_CONFIG": str(PRODUCTION_EXAMPLE), **PRODUCTION_SECRETS, **changes}


def test_default_file_names_every_setting_and_nothing_else():
    assert set(read_toml(DEFAULT_FILE)) == {name.lower() for name in config.DEFAULTS}


@pytest.mark.parametrize("name", sorted(config.DEFAULTS))
def test_default_file_value_is_the_builtin_default(name):
    value = read_toml(DEFAULT_FILE)[name.lower()]
    default = config.DEFAULTS[name]
    # Compare types too: TOML's `0` must not pass for `false`, nor `"60"` for 60.
    assert (type(value), value) == (type(default), default)


def test_default_file_loads_to_exactly_the_defaults():
    assert config.load(environ={"IDP_CONFIG": str(DEFAULT_FILE)}) == config.DEFAULTS


def test_production_example_validates_once_secrets_come_from_the_environment():
    settings = config.load(environ=production_environment())
    config.validate(settings)
    assert settings["ENV"] == "production"
    assert settings["ISSUER"].startswith("https://")
    assert settings["DATABASE_URL"].startswith("postgresql")
    assert settings["KEYS_DIR"]
    assert settings["KEY_PASSPHRASE_FILE"]
    assert settings["TRUSTED_PROXIES"] > 0
    assert (settings["SMS_SENDER"], settings["MAIL_SENDER"]) == ("gateway", "smtp")
    assert settings["SMS_GATEWAY_URL"].startswith("https://")
    assert settings["SMTP_SECURITY"] != "none"


def test_production_example_builds_real_senders():
    settings = config.load(environ=production_environment())

    senders = create_senders(settings, instance_path="/nonexistent")

    assert isinstance(senders["sms"], SmsGatewaySender)
    assert isinstance(senders["email"], SmtpSender)


def test_production_example_holds_no_secrets():
    names = {key.upper() for key in read_toml(PRODUCTION_EXAMPLE)}
    assert not names & SECRET_SETTINGS


def test_production_example_alone_is_refused_for_want_of_a_secret_key():
    settings = config.load(environ={"IDP_CONFIG": str(PRODUCTION_EXAMPLE)})
    with pytest.raises(config.ConfigError, match="IDP_SECRET_KEY"):
        config.validate(settings)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        pytest.param(
            {"IDP_SECRET_KEY": config.INSECURE_SECRET_KEY}, "IDP_SECRET_KEY", id="default-secret"
        ),
        pytest.param({"IDP_SECRET_KEY": "too-short"}, "IDP_SECRET_KEY", id="short-secret"),
        pytest.param({"IDP_ISSUER": "http://login.example.org"}, "IDP_ISSUER", id="http-issuer"),
        pytest.param({"IDP_DEBUG": "true"}, "IDP_DEBUG", id="debug-on"),
        pytest.param(
            {"IDP_KEY_PASSPHRASE": "", "IDP_KEY_PASSPHRASE_FILE": ""},
            "IDP_KEY_PASSPHRASE",
            id="no-key-passphrase",
        ),
        pytest.param({"IDP_PAIRWISE_SALT": ""}, "IDP_PAIRWISE_SALT", id="no-pairwise-salt"),
        pytest.param({"IDP_SMS_SENDER": "outbox"}, "IDP_SMS_SENDER", id="sms-to-outbox"),
        pytest.param({"IDP_MAIL_SENDER": "outbox"}, "IDP_MAIL_SENDER", id="mail-to-outbox"),
        pytest.param({"IDP_ADMIN_TOKEN": "too-short"}, "IDP_ADMIN_TOKEN", id="short-admin-token"),
        pytest.param({"IDP_SECRET_KEY": "x" * 40}, "IDP_SECRET_KEY", id="one-character-secret"),
        pytest.param(
            {"IDP_SECRET_KEY": "0123456789abcdef" * 3}, "IDP_SECRET_KEY", id="pattern-secret"
        ),
        pytest.param({"IDP_ADMIN_TOKEN": "ab" * 20}, "IDP_ADMIN_TOKEN", id="two-character-token"),
        pytest.param(
            {"IDP_KEY_PASSPHRASE": "fifteen chars!!"}, "IDP_KEY_PASSPHRASE", id="short-passphrase"
        ),
        pytest.param(
            {"IDP_KEY_PASSPHRASE": "passwordpassword"}, "IDP_KEY_PASSPHRASE", id="few-characters"
        ),
        pytest.param(
            {"IDP_OUTBOUND_ALLOW": "10.0.0.0/33"}, "IDP_OUTBOUND_ALLOW", id="bad-allow-list"
        ),
        pytest.param(
            {"IDP_REFRESH_REUSE_INTERVAL": "3600"},
            "IDP_REFRESH_REUSE_INTERVAL",
            id="long-refresh-reuse",
        ),
        pytest.param(
            {"IDP_CLIENT_ASSERTION_MAX_LIFETIME": "86400"},
            "IDP_CLIENT_ASSERTION_MAX_LIFETIME",
            id="long-client-assertions",
        ),
    ],
)
def test_production_refuses_an_unsafe_setting_and_names_it(changes, named):
    settings = config.load(environ=production_environment(**changes))
    with pytest.raises(config.ConfigError, match=named):
        config.validate(settings)


def test_production_refuses_a_short_passphrase_file_at_start_up(tmp_path, keys_dir):
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_text("short-one\n", encoding="utf-8")
    settings = config.load(
        environ=production_environment(
            IDP_KEY_PASSPHRASE="", IDP_KEY_PASSPHRASE_FILE=str(passphrase_file)
        )
    )
    settings.update(KEYS_DIR=str(keys_dir), INSTANCE_PATH=str(tmp_path / "instance"))
    with pytest.raises(config.ConfigError, match="IDP_KEY_PASSPHRASE_FILE"):
        create_app(settings)


def test_random_secrets_pass_the_variety_check():
    for _ in range(200):
        assert not config.low_variety(secrets.token_urlsafe(32))
        assert not config.low_variety(secrets.token_hex(16))
