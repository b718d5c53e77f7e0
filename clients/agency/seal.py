"""The agency's electronic seal: its own key and self-signed X.509 certificate, and PAdES
signatures on the documents it issues ("Dokumente me vulë elektronike").

Key and certificate are made at first start in STATE_DIR (never committed): the key readable by
the owner only. Anyone can check a document with the certificate as the trust anchor, e.g.
``pyhanko sign validate --pretty-print --trust instance/agency-seal-cert.pem --trust-replace
deshmia.pdf``. A real agency would use a qualified certificate from a trust service provider
instead of a self-signed one; nothing else here would change.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers

from ..common.settings import ConfigError

KEY_FILE = "agency-seal-key.pem"
CERT_FILE = "agency-seal-cert.pem"
SUBJECT = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "AL"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Drejtoria e Përgjithshme e Burgjeve"),
        x509.NameAttribute(
            NameOID.COMMON_NAME,
            "Drejtoria e Përgjithshme e Burgjeve — Vula elektronike (demo)",
        ),
    ]
)
# How long a new seal certificate is valid. When it lapses, remove both files: the next start
# makes a new seal (documents sealed before stay verifiable with the old certificate).
VALIDITY = dt.timedelta(days=3 * 365)
SIGNATURE_FIELD = "VulaElektronike"


class Seal:
    """Seals PDF documents with the agency's key."""

    def __init__(self, state_dir: Path):
        state_dir.mkdir(parents=True, exist_ok=True)
        self.key_path = state_dir / KEY_FILE
        self.cert_path = state_dir / CERT_FILE
        _ensure_key(self.key_path)
        _ensure_certificate(self.cert_path, self.key_path)
        self.signer = signers.SimpleSigner.load(str(self.key_path), str(self.cert_path))

    def apply(self, pdf: bytes) -> bytes:
        """The document with the seal: a PAdES baseline signature over the whole file."""
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        metadata = signers.PdfSignatureMetadata(
            field_name=SIGNATURE_FIELD,
            subfilter=fields.SigSeedSubFilter.PADES,
            md_algorithm="sha256",
            reason="Vulë elektronike / Electronic seal",
            location="Tiranë, Shqipëri",
        )
        return signers.sign_pdf(writer, metadata, signer=self.signer).getvalue()


def init_app(app: Flask) -> Seal:
    seal = Seal(Path(app.config["STATE_DIR"]))
    app.extensions["agency.seal"] = seal
    return seal


def _ensure_key(path: Path) -> None:
    if path.exists():
        return
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _publish(path, pem, mode=0o600)


def _ensure_certificate(path: Path, key_path: Path) -> None:
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not path.exists():
        _publish(path, _self_signed(key), mode=0o644)
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    if certificate.public_key() != key.public_key():
        raise ConfigError(f"{path} is not the certificate of {key_path}; remove both files")
    if certificate.not_valid_after_utc <= dt.datetime.now(dt.UTC):
        raise ConfigError(f"the seal certificate {path} has expired; remove it and {key_path}")


def _self_signed(key: ec.EllipticCurvePrivateKey) -> bytes:
    now = dt.datetime.now(dt.UTC)
    usage = x509.KeyUsage(
        # A seal commits the agency to the content (ETSI EN 319 412-3: non-repudiation).
        digital_signature=True,
        content_commitment=True,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(SUBJECT)
        .issuer_name(SUBJECT)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def _publish(path: Path, content: bytes, mode: int) -> None:
    """Write the file whole under a temporary name, then link it into place: a process starting
    at the same moment either sees the complete file or makes its own, and only one wins."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.chmod(temporary, mode)
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
        # If another process was first, its file is the one in use.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
