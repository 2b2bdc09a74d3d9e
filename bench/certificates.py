"""Throw-away certificates for TLS peers (bench/private_peers.py) and the tests that talk to them.

`make_authority(directory)` writes a certificate authority with `openssl`; `issue` signs a
server certificate (for 127.0.0.1 and localhost) or a client certificate with it. Each is
valid for one day and written with its key, unencrypted, as PEM files.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

OPENSSL = "openssl"


@dataclass(frozen=True)
class Pair:
    """A certificate and its private key, as PEM files."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class Authority:
    """A certificate authority that can sign server and client certificates."""

    directory: Path
    pair: Pair

    @property
    def cert(self) -> Path:
        return self.pair.cert

    def issue(self, name: str, *, server: bool) -> Pair:
        """A certificate signed by this authority: `server` for 127.0.0.1/localhost, else a client's."""
        pair = Pair(self.directory / f"{name}.crt", self.directory / f"{name}.key")
        request = self.directory / f"{name}.csr"
        extensions = self.directory / f"{name}.ext"
        usage = "serverAuth" if server else "clientAuth"
        lines = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment",
                 f"extendedKeyUsage={usage}"]
        if server:
            lines.append("subjectAltName=IP:127.0.0.1,DNS:localhost")
        extensions.write_text("\n".join(lines) + "\n")
        _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(pair.key), "-out", str(request),
                 "-subj", f"/CN={'localhost' if server else name}")
        _openssl("x509", "-req", "-in", str(request), "-CA", str(self.pair.cert), "-CAkey", str(self.pair.key),
                 "-CAcreateserial", "-CAserial", str(self.pair.cert.with_suffix(".srl")), "-days", "1",
                 "-extfile", str(extensions), "-out", str(pair.cert))
        return pair


def make_authority(directory: Path, name: str = "ca") -> Authority:
    """A new self-signed certificate authority in `directory` (`<name>.crt`, `<name>.key`)."""
    pair = Pair(directory / f"{name}.crt", directory / f"{name}.key")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(pair.key), "-out", str(pair.cert),
             "-days", "1", "-subj", f"/CN=ogi test authority {name}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return Authority(directory, pair)


def _openssl(*args: str) -> None:
    done = subprocess.run([OPENSSL, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {done.stderr.strip()}")
