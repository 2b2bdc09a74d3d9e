"""ogi-check-metric: check a Graphite series against Nagios ranges, through graphite-web's render API.

    ogi-check-metric -u http://127.0.0.1:8080 -m 'web1.load.load1' -w 4 -c 8
    ogi-check-metric -m 'web*.disk_usage.root.used_percent' --aggregate max -w 80 -c 90 --from -15min

It GETs `/render?target=TARGET&from=-5min&format=json` and reduces each returned series to one number with
`--aggregate`: `last` (the default: the last non-null point), `avg`, `max` or `min` over the non-null points.
A target matching several series (globs, functions) is checked series by series and the worst status wins.
Every series' value is perfdata under its name.

Statuses: no series, or only null points, is `--no-data` (UNKNOWN by default); graphite-web not answering,
answering an HTTP error or something other than the render API's JSON is UNKNOWN (the metric could not be
checked, which says nothing about what it measures), and so is passing `-t/--timeout` (default 10 s).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from plugins.sdk import (
    OK,
    UNKNOWN,
    CheckPlugin,
    Number,
    PluginTimeout,
    Range,
    Status,
    format_number,
    nagios_range,
    perfdata,
    status_arg,
    status_of,
)

AGGREGATES = ("last", "avg", "max", "min")
LISTED = 5  # series named in the message; all of them are in the perfdata


def aggregate(datapoints: Sequence[Sequence[Any]], how: str) -> float | None:
    """One number from render-API `[[value, timestamp], ...]`, nulls ignored; None without any value."""
    values = [float(p[0]) for p in datapoints if p and p[0] is not None]
    if not values:
        return None
    if how == "last":
        return values[-1]
    if how == "max":
        return max(values)
    if how == "min":
        return min(values)
    return sum(values) / len(values)


def evaluate(series: Sequence[dict[str, Any]], how: str, warning: Range | None, critical: Range | None
             ) -> list[tuple[str, float, Status]]:
    """(name, value, status) of each series that has data, worst first, then in the server's order."""
    checked = []
    for item in series:
        if not isinstance(item, dict) or not isinstance(item.get("datapoints"), list):
            raise ValueError("not a render API answer: each series needs a datapoints list")
        value = aggregate(item["datapoints"], how)
        if value is not None:
            checked.append((str(item.get("target", "?")), value, status_of(value, warning, critical)))
    return sorted(checked, key=lambda c: -int(c[2]))


class CheckMetric(CheckPlugin):
    """Check Graphite series (graphite-web's render API) against Nagios warning and critical ranges."""

    name = "metric"
    dash_values = (*CheckPlugin.dash_values, "--from", "--until")

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("-u", "--url", default="http://127.0.0.1:8080",
                            help="graphite-web's base URL (default http://127.0.0.1:8080)")
        parser.add_argument("-m", "--target", "--metric", required=True,
                            help="a render API target: a path, a glob, or functions of them")
        parser.add_argument("-w", "--warning", type=nagios_range, help="Nagios range, e.g. 10, 10:, ~:10, @10:20")
        parser.add_argument("-c", "--critical", type=nagios_range, help="Nagios range")
        parser.add_argument("--aggregate", choices=AGGREGATES, default="last",
                            help="how the points of a series become one value (default: last non-null)")
        parser.add_argument("--from", dest="start", default="-5min", metavar="FROM",
                            help="the render API's from (default -5min)")
        parser.add_argument("--until", default=None, help="the render API's until (default now)")
        parser.add_argument("--no-data", type=status_arg, default=UNKNOWN, metavar="STATE",
                            help="the status when no series has a value (default UNKNOWN)")

    def fetch(self) -> Any:
        import urllib.error
        import urllib.parse
        import urllib.request

        query = {"target": self.args.target, "from": self.args.start, "format": "json"}
        if self.args.until:
            query["until"] = self.args.until
        url = self.args.url.rstrip("/") + "/render?" + urllib.parse.urlencode(query)
        request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "ogi-check-metric"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as e:
            self.unknown(f"graphite-web answered HTTP {e.code} {e.reason} for {self.args.target}")
        except TimeoutError:
            raise PluginTimeout from None
        except urllib.error.URLError as e:
            if isinstance(e.reason, TimeoutError):
                raise PluginTimeout from None
            self.unknown(f"cannot reach graphite-web at {self.args.url}: {e.reason}")
        try:
            return json.loads(body)
        except ValueError as e:
            self.unknown(f"graphite-web did not answer JSON: {e}")

    def run(self) -> int:
        a = self.args
        series = self.fetch()
        if not isinstance(series, list):
            self.unknown("graphite-web's answer is not a list of series")
        checked = evaluate(series, a.aggregate, a.warning, a.critical)
        if not checked:
            self.exit_with(a.no_data, f"no data for {a.target} from {a.start}")
        perf = [perfdata(name, value, warn=a.warning, crit=a.critical) for name, value, _ in checked]
        worst = checked[0][2]
        shown = [self._describe(name, value, status) for name, value, status in checked[:LISTED]]
        rest = len(checked) - LISTED
        message = ", ".join(shown) + (f" and {rest} more series" if rest > 0 else "")
        if len(checked) > 1:
            bad = sum(1 for c in checked if c[2] != OK)
            message = f"{bad} of {len(checked)} series not OK: {message}" if bad else f"{len(checked)} series OK: {message}"
        self.exit_with(worst, message, perf)

    def _describe(self, name: str, value: Number, status: Status) -> str:
        text = f"{name} = {format_number(value)}"
        if self.args.aggregate != "last":
            text += f" ({self.args.aggregate})"
        limit = self.args.critical if status == 2 else self.args.warning if status == 1 else None
        return f"{text} ({status.name.lower()}: {limit.explain(value)})" if limit is not None else text


main = CheckMetric.main

if __name__ == "__main__":
    raise SystemExit(main())
