"""Several Prometheus text pages summed into one (`ogi server --workers N`: one page for the host).

Samples with the same name and labels are added: counters, histogram buckets, sums and counts
add up exactly; gauges are added too (a publish buffer, series held: the host's total).
`_created` samples are dropped, as a sum of timestamps means nothing.
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def format_value(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def merge_pages(pages: list[str]) -> str:
    """One page whose every sample is the sum of that sample over `pages`."""
    families: dict[str, tuple[str, str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]] = {}
    for page in pages:
        for family in text_string_to_metric_families(page):
            _kind, _help, samples = families.setdefault(family.name, (family.type, family.documentation, {}))
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                key = (sample.name, tuple(sorted(sample.labels.items())))
                samples[key] = samples.get(key, 0.0) + sample.value
    out: list[str] = []
    for name, (kind, help_text, samples) in families.items():
        out.append(f"# HELP {name} {help_text.replace(chr(92), chr(92) * 2).replace(chr(10), chr(92) + 'n')}")
        out.append(f"# TYPE {name} {kind}")
        for (sample_name, labels), value in samples.items():
            text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
            out.append(f"{sample_name}{{{text}}} {format_value(value)}" if text else f"{sample_name} {format_value(value)}")
    return "\n".join(out) + "\n" if out else ""
