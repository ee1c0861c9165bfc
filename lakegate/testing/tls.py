"""Throw-away TLS material for tests: a private CA and a server certificate for loopback, made with the
``openssl`` command (Debian's openssl package; a missing command fails the test that needs it, loudly)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class TLSFiles:
    ca: Path  # the CA certificate (PEM): what clients trust
    cert: Path  # the server certificate, for 127.0.0.1 and localhost, signed by the CA
    key: Path  # the server's private key (PKCS#8, unencrypted)
    keystore: Path  # key and certificate in one PEM file (Kafka's PEM keystore)


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {done.stderr.strip()}")


def make_tls_files(directory: Path) -> TLSFiles:
    """A CA and a loopback server certificate under ``directory`` (valid for a day)."""
    directory.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=lakegate test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        cwd=directory,
    )
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        cwd=directory,
    )
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
        cwd=directory,
    )
    key, cert = directory / "server.key", directory / "server.pem"
    keystore = directory / "server-keystore.pem"
    keystore.write_text(key.read_text() + cert.read_text())
    for private in (key, keystore, directory / "ca.key"):
        private.chmod(0o600)
    return TLSFiles(ca=directory / "ca.pem", cert=cert, key=key, keystore=keystore)
