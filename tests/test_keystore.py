"""The signing-key store: encrypted at rest, a clear stop on a wrong passphrase."""

from __future__ import annotations

import json

import pytest

from idp.config import SIGNING_ALGORITHMS, ConfigError
from idp.keystore import KeyStore


def test_keys_are_created_once_and_encrypted_at_rest(tmp_path):
    store = KeyStore(tmp_path, b"right passphrase")
    store.ensure_current()
    files = sorted(tmp_path.glob("*.json"))
    # One current key per algorithm: RS256, PS256, ES256 and EdDSA.
    assert len(files) == len(SIGNING_ALGORITHMS)
    for path in files:
        meta = json.loads(path.read_text())
        assert meta["private_key"].startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        assert path.stat().st_mode & 0o077 == 0
    KeyStore(tmp_path, b"right passphrase").ensure_current()
    assert sorted(tmp_path.glob("*.json")) == files


def test_wrong_passphrase_stops_start_up_with_a_clear_message(tmp_path):
    KeyStore(tmp_path, b"right passphrase").ensure_current()
    with pytest.raises(ConfigError, match="wrong IDP_KEY_PASSPHRASE"):
        KeyStore(tmp_path, b"wrong passphrase").load()


def test_app_start_fails_on_wrong_passphrase(make_app, tmp_path):
    make_app(KEYS_DIR=str(tmp_path))
    with pytest.raises(ConfigError, match="IDP_KEY_PASSPHRASE"):
        make_app(KEYS_DIR=str(tmp_path), KEY_PASSPHRASE="another passphrase")


def test_jwks_holds_only_public_parameters(tmp_path):
    store = KeyStore(tmp_path, b"p")
    store.ensure_current()
    for key in store.public_jwks()["keys"]:
        assert "d" not in key and key["kid"]
