"""ogi-metrics-prometheus URL: any Prometheus exporter's page as ogi metric output.

Scrapes URL (text exposition format 0.0.4) and prints its samples, every one stamped with the
scrape's time:

- `--format prometheus_text` (default): `# TYPE` lines kept for every declared family, then
  `name{label="value",...} value timestamp_ms`; a check with `output_metric_format:
  prometheus_text` takes them in with their labels as tags.
- `--format graphite`: Graphite 1.1 tagged lines `<scheme>.name;label=value value timestamp`,
  labels with an empty value left out (Prometheus reads them as absent).

NaN and infinite samples print nothing (Graphite cannot store them). A scrape that fails (refused,
timed out, HTTP status other than 200, a page larger than `--max-bytes`) or a page that is not the
text format (a line that is not a sample, a comment or blank; a page without one sample) is one
`METRICS_PROMETHEUS CRITICAL: <reason>` line and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

from pipeline.metrics.formats.prometheus import family_of, sample, type_line
from pipeline.model import Point as Sample
from plugins.nagios import format_number
from plugins.sdk import MetricPlugin

ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"
_TAG_BAD = frozenset(";!^=~ \t\n")


def http_url(text: str) -> str:
    """argparse `type=`: a wrong URL is a usage error (UNKNOWN), not a failed scrape."""
    if not text.startswith(("http://", "https://")) or len(text.split("/", 3)[2]) == 0:
        raise argparse.ArgumentTypeError(f"expected an http:// or https:// URL, got {text!r}")
    return text


class ScrapeError(Exception):
    """The page could not be had, or is not Prometheus' text format."""


def fetch(url: str, timeout: float, max_bytes: int) -> str:
    request = urllib.request.Request(url, headers={"Accept": ACCEPT, "User-Agent": "ogi-metrics-prometheus"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the URL is the operator's
            if response.status != 200:
                raise ScrapeError(f"{url} answered HTTP {response.status}")
            body: bytes = response.read(max_bytes + 1)
    except urllib.error.HTTPError as e:
        raise ScrapeError(f"{url} answered HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise ScrapeError(f"cannot scrape {url}: {e.reason}") from None
    except (OSError, ValueError) as e:  # timeouts, resets, a malformed URL
        raise ScrapeError(f"cannot scrape {url}: {' '.join(str(e).split()) or type(e).__name__}") from None
    if len(body) > max_bytes:
        raise ScrapeError(f"{url} returned more than {max_bytes} bytes")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScrapeError(f"{url} returned a page that is not UTF-8 text (byte {e.start})") from None


class Page:
    """A page's samples, the families' declared types and their help texts (kept escaped)."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self.types: dict[str, str] = {}
        self.helps: dict[str, str] = {}


def read_page(text: str, now: float) -> Page:
    """The samples, types and help of a page; ScrapeError naming the first line that is none of them."""
    page = Page()
    samples, types, helps = page.samples, page.types, page.helps
    lines = 0
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line:
            continue
        if line[0] == "#":
            declared = type_line(line)
            if declared is not None:
                types.setdefault(*declared)
            elif line.startswith("# HELP "):
                _, _, name, *words = line.split(" ", 3)
                helps.setdefault(name, words[0] if words else "")
            continue
        lines += 1
        try:
            point = sample(line, now)
        except (ValueError, OverflowError):
            raise ScrapeError(f"line {number} is not a Prometheus sample: {line[:80]!r}") from None
        if point is not None:
            samples.append(point)
    if not lines:
        raise ScrapeError("the page holds no sample")
    return page


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_lines(page: Page) -> Iterator[str]:
    """Samples under their family's `# HELP` and `# TYPE` lines (each printed once, in page order)."""
    typed: set[str] = set()
    types, helps = page.types, page.helps
    for point in page.samples:
        family = family_of(point.name, types)
        if family is not None and family not in typed:
            typed.add(family)
            if family in helps:
                yield f"# HELP {family} {helps[family]}\n"
            yield f"# TYPE {family} {types[family]}\n"
        labels = ",".join(f'{k}="{_label_value(v)}"' for k, v in point.tags)
        name = f"{point.name}{{{labels}}}" if labels else point.name
        yield f"{name} {format_number(point.value)} {int(point.timestamp * 1000)}\n"


def _tag(text: str) -> str:
    return "".join("_" if c in _TAG_BAD else c for c in text)


def graphite_lines(samples: list[Sample], scheme: str) -> Iterator[str]:
    prefix = scheme + "." if scheme else ""
    for point in samples:
        tags = "".join(f";{_tag(k)}={_tag(v)}" for k, v in point.tags if v)
        yield f"{prefix}{point.name}{tags} {format_number(point.value)} {int(point.timestamp)}\n"


class PrometheusMetrics(MetricPlugin):
    """Scrape a Prometheus exporter's page and print its samples, labels and types kept."""

    name = "prometheus"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("url", type=http_url, help="the exporter's page, e.g. http://127.0.0.1:9100/metrics")
        parser.add_argument("--format", choices=("prometheus_text", "graphite"), default="prometheus_text",
                            help="what to print (default prometheus_text; graphite prints tagged lines under --scheme)")
        parser.add_argument("--timeout", type=float, default=10.0, help="seconds the scrape may take (default 10)")
        parser.add_argument("--max-bytes", type=int, default=32 << 20, help="largest page read (default 32 MiB)")

    def run(self) -> int:
        try:
            text = fetch(self.args.url, self.args.timeout, self.args.max_bytes)
            page = read_page(text, time.time())
        except ScrapeError as e:
            self.critical(str(e))
        if self.args.format == "graphite":
            out = "".join(graphite_lines(page.samples, self.scheme))
        else:
            out = "".join(prometheus_lines(page))
        sys.stdout.write(out)
        return 0


main = PrometheusMetrics.main

if __name__ == "__main__":
    raise SystemExit(main())
