"""Why a broker could not be reached, in words an operator can act on.

aiormq reports a TLS failure as it finds it: a bare `FileNotFoundError` without the file's
name, an `SSLError` reason code, or, when the broker refuses the client's certificate after a
TLS 1.3 handshake, as often as not only "connection reset by peer" (the broker's alert is lost
to the reset). `describe(exc, url)` turns each into one line that says TLS, what went wrong
and which `rabbitmq.ssl` setting to look at; any other failure keeps aiormq's own words.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator

from aiormq.exceptions import AMQPError, IncompatibleProtocolError
from yarl import URL

#: The URL parameter aiormq reads, and the `rabbitmq.ssl` key it comes from.
SETTINGS = {"cafile": "ssl.ca_file", "certfile": "ssl.cert_chain_file", "keyfile": "ssl.private_key_file"}
#: What building the TLS context raises, unwrapped, for a file it cannot use.
LOADING = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, ssl.SSLError)
#: The broker refused the client certificate (alerts from RabbitMQ's Erlang TLS).
REFUSED_CLIENT = ("UNKNOWN_CA", "BAD_CERTIFICATE", "CERTIFICATE_UNKNOWN", "CERTIFICATE_EXPIRED",
                  "UNSUPPORTED_CERTIFICATE", "ACCESS_DENIED", "HANDSHAKE_FAILURE")


def describe(exc: BaseException, url: str) -> str:
    """One line for why connecting to `url` failed; TLS failures start with "TLS:"."""
    try:
        return _describe(exc, URL(url))
    except Exception:  # explaining a failure must never become one
        return repr(exc)


def _describe(exc: BaseException, parts: URL) -> str:
    if parts.scheme != "amqps":
        return _plain(exc, parts)
    files = {key: parts.query[key] for key in SETTINGS if key in parts.query}
    if isinstance(exc, LOADING) and not isinstance(exc, AMQPError | ssl.SSLCertVerificationError):
        return _loading(exc, files)  # raised while building the TLS context: aiormq wraps socket errors
    chain = list(_chain(exc))
    for error in chain:
        if isinstance(error, ssl.SSLCertVerificationError):
            return _untrusted_broker(error, parts, files)
    for error in chain:
        if isinstance(error, ssl.SSLError):
            return _handshake(error, files)
    if any(isinstance(e, ConnectionResetError | EOFError | IncompatibleProtocolError) for e in chain):
        # TLS 1.3: the handshake completes on ogi's side before the broker checks the client
        # certificate, so its refusal usually arrives as a reset of the first AMQP bytes.
        if "certfile" not in files:
            return ("TLS: the broker closed the connection right after the TLS handshake: it probably requires "
                    f"a client certificate; set rabbitmq.{SETTINGS['certfile']} and {SETTINGS['keyfile']} "
                    f"({_words(exc)})")
        return ("TLS: the broker closed the connection right after the TLS handshake: it probably refused the "
                f"client certificate {files['certfile']} (rabbitmq.{SETTINGS['certfile']}), which must be "
                f"signed by an authority in the broker's ssl_options.cacertfile ({_words(exc)})")
    return _words(exc)  # not about TLS: a refused port, a timeout, a wrong password


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 8:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _words(exc: BaseException) -> str:
    if isinstance(exc, AMQPError) and exc.args:
        return " ".join(str(arg) for arg in exc.args if not isinstance(arg, int)) or repr(exc)
    return str(exc) or repr(exc)


def _reason(error: ssl.SSLError) -> str:
    return str(error.reason or error.strerror or error)


def _loading(exc: OSError, files: dict[str, str]) -> str:
    for key, path in files.items():  # in the order aiormq reads them
        unreadable = _unreadable(path)
        if unreadable:
            return f"TLS: cannot read rabbitmq.{SETTINGS[key]} {path}: {unreadable}"
    named = ", ".join(f"rabbitmq.{SETTINGS[key]} {path}" for key, path in files.items()) or "none set"
    if isinstance(exc, ssl.SSLError):
        if exc.reason == "KEY_VALUES_MISMATCH":
            return (f"TLS: rabbitmq.{SETTINGS['keyfile']} {files.get('keyfile')} is not the key of "
                    f"rabbitmq.{SETTINGS['certfile']} {files.get('certfile')}")
        return f"TLS: cannot load the certificates ({named}): {_reason(exc)}"
    return f"TLS: cannot load the certificates ({named}): {exc}"


def _unreadable(path: str) -> str | None:
    try:
        with open(path, "rb"):
            return None
    except OSError as error:
        return error.strerror or str(error)


def _untrusted_broker(error: ssl.SSLCertVerificationError, parts: URL, files: dict[str, str]) -> str:
    why = error.verify_message or _reason(error)
    if "mismatch" in why.lower():
        return (f"TLS: the broker's certificate is not valid for {parts.host} ({why}); connect by a name or "
                "address the certificate lists")
    authority = (f"the authority in rabbitmq.{SETTINGS['cafile']} {files['cafile']}" if "cafile" in files
                 else f"the system's authorities (set rabbitmq.{SETTINGS['cafile']})")
    return f"TLS: the broker's certificate is not trusted: {why}; it must be signed by {authority}"


def _handshake(error: ssl.SSLError, files: dict[str, str]) -> str:
    reason = _reason(error)
    if "CERTIFICATE_REQUIRED" in reason:
        return (f"TLS: the broker requires a client certificate ({reason}); set "
                f"rabbitmq.{SETTINGS['certfile']} and {SETTINGS['keyfile']}")
    if any(code in reason for code in REFUSED_CLIENT):
        certificate = files.get("certfile", "(none set)")
        return (f"TLS: the broker refused the client certificate {certificate} ({reason}); it must be signed "
                "by an authority in the broker's ssl_options.cacertfile")
    if "WRONG_VERSION_NUMBER" in reason or "RECORD_LAYER_FAILURE" in reason:
        return f"TLS: the broker's port does not speak TLS ({reason}); RabbitMQ's TLS port is usually 5671"
    return f"TLS handshake failed: {reason}"


def _plain(exc: BaseException, parts: URL) -> str:
    words = _words(exc)
    if any(isinstance(e, ConnectionResetError | EOFError | IncompatibleProtocolError) for e in _chain(exc)):
        return (f"{words} (if port {parts.port} is a TLS listener, set rabbitmq.ssl or use an amqps:// URL)")
    return words
