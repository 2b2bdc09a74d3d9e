"""ogi-check-http-json: GET a URL and check one JSON field against Nagios ranges or an expected value.

    ogi-check-http-json -u http://127.0.0.1:8080/health -k db.latency_ms -w 200 -c 500
    ogi-check-http-json -u http://127.0.0.1:8080/health -k status --expect ok

`-k` is a dot path into the document (`items.0.state` indexes a list); without it the whole document is
the value. With `-w`/`-c` the value must be a number (true/false count as 1/0) and is printed as perfdata
under the path's name, beside `time` (seconds the request took).

Statuses, as monitoring-plugins' check_http sets them: the server not answering, refusing the connection,
an HTTP error status or a body that is not JSON is CRITICAL, and so is passing `-t/--timeout` (default
10 s; `-t 5:UNKNOWN` picks another status, as in monitoring-plugins 2.3). A field that is not there, or
not a number where ranges need one, is UNKNOWN: the check could not be evaluated.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, NoReturn

from plugins.sdk import (
    CRITICAL,
    WARNING,
    CheckPlugin,
    PluginTimeout,
    format_number,
    nagios_range,
    perfdata,
    status_of,
)

_MISSING = object()


def lookup(document: Any, path: str) -> Any:
    """The value at a dot path (`a.b.0.c`), or `_MISSING`."""
    value = document
    for part in path.split(".") if path else ():
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def matches(actual: Any, expected: str) -> bool:
    """`--expect`: the text as JSON (`3`, `true`, `"ok"`, `null`), or else as a plain string."""
    try:
        wanted = json.loads(expected)
    except ValueError:
        return isinstance(actual, str) and actual == expected
    if isinstance(actual, str) and actual == expected:
        return True
    # JSON `1` must not match `true`: compare booleans only with booleans
    return isinstance(actual, bool) == isinstance(wanted, bool) and actual == wanted


def _shown(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


class CheckHttpJson(CheckPlugin):
    """Check a field of a JSON document served over HTTP against Nagios ranges or an expected value."""

    name = "http_json"
    default_timeout_state = CRITICAL
    dash_values = (*CheckPlugin.dash_values, "--expect")

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("-u", "--url", required=True, help="the URL to GET (http or https)")
        parser.add_argument("-k", "--key", default="", help="dot path of the field, e.g. status.db.latency_ms")
        parser.add_argument("-w", "--warning", type=nagios_range, help="Nagios range, e.g. 10, 10:, ~:10, @10:20")
        parser.add_argument("-c", "--critical", type=nagios_range, help="Nagios range")
        parser.add_argument("--expect", metavar="VALUE", help="CRITICAL unless the field equals this (JSON or text)")
        parser.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                            help="extra request header (repeatable)")
        parser.add_argument("--insecure", action="store_true", help="accept any TLS certificate")

    def on_timeout(self, seconds: float) -> NoReturn:
        self.exit_with(self.timeout_state, f"no answer from {self.args.url} within {format_number(seconds)} seconds")

    def fetch(self) -> tuple[Any, float]:
        import urllib.error
        import urllib.request

        headers = {"Accept": "application/json", "User-Agent": "ogi-check-http-json"}
        for header in self.args.header:
            name, sep, value = header.partition(":")
            if not sep:
                self.unknown(f"a header must look like 'Name: value', got {header!r}")
            headers[name.strip()] = value.strip()
        context = None
        if self.args.insecure:
            import ssl
            context = ssl._create_unverified_context()
        request = urllib.request.Request(self.args.url, headers=headers)
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=context) as response:
                body = response.read()
        except urllib.error.HTTPError as e:
            self.critical(f"{self.args.url} answered HTTP {e.code} {e.reason}")
        except TimeoutError:
            raise PluginTimeout from None
        except urllib.error.URLError as e:
            if isinstance(e.reason, TimeoutError):
                raise PluginTimeout from None
            self.critical(f"cannot reach {self.args.url}: {e.reason}")
        except OSError as e:  # a connection reset mid-body, and the like
            self.critical(f"cannot read {self.args.url}: {e}")
        elapsed = time.monotonic() - started
        try:
            return json.loads(body), elapsed
        except ValueError as e:
            self.critical(f"{self.args.url} did not answer JSON: {e}")

    def run(self) -> int:
        a = self.args
        if a.expect is not None and (a.warning or a.critical):
            self.unknown("use either --expect or -w/-c, not both")
        document, elapsed = self.fetch()
        perf = [perfdata("time", round(elapsed, 6), "s", minimum=0)]
        where = a.key or "the document"
        value = lookup(document, a.key)
        if value is _MISSING:
            self.unknown(f"{a.key} is not in the document from {a.url}", perf)
        if a.expect is not None:
            if matches(value, a.expect):
                self.ok(f"{where} is {_shown(value)}", perf)
            self.critical(f"{where} is {_shown(value)}, expected {a.expect}", perf)
        if a.warning is None and a.critical is None:
            if isinstance(value, int | float):
                perf.insert(0, perfdata(a.key or "value", value))
            self.ok(f"{where} = {_shown(value)}", perf)
        if not isinstance(value, int | float):
            self.unknown(f"{where} is {_shown(value)}, not a number to compare with the ranges", perf)
        status = status_of(value, a.warning, a.critical)
        perf.insert(0, perfdata(a.key or "value", value, warn=a.warning, crit=a.critical))
        limit = a.critical if status == CRITICAL else a.warning if status == WARNING else None
        detail = f" ({status.name.lower()}: {limit.explain(value)})" if limit is not None else ""
        self.exit_with(status, f"{where} = {_shown(value)}{detail}", perf)


main = CheckHttpJson.main

if __name__ == "__main__":
    raise SystemExit(main())
