"""StatsD lines as a StatsD sender writes them, aggregated into the Graphite lines ogi flushes."""

from __future__ import annotations

from pipeline.metrics.statsd_parse import StatsdAggregator, clean_name

NOW = 1_700_000_000


def flushed(aggregator: StatsdAggregator, interval: float = 10.0) -> dict[str, str]:
    lines = aggregator.flush(NOW, interval)
    points = {}
    for line in lines:
        name, value, stamp = line.split(" ")
        assert stamp == str(NOW)
        points[name] = value
    return points


def test_counters_sum_over_the_interval_and_sample_rates_scale_them() -> None:
    statsd = StatsdAggregator()
    statsd.feed(b"hits:1|c\nhits:2|c\nsampled:1|c|@0.1\nsampled:1|c|@0.1")
    assert flushed(statsd) == {"hits.count": "3", "hits.rate": "0.3", "sampled.count": "20", "sampled.rate": "2"}
    assert flushed(statsd) == {}, "a counter starts again after a flush"


def test_gauges_set_add_and_subtract_and_keep_their_value_across_flushes() -> None:
    statsd = StatsdAggregator()
    statsd.feed(b"queue:10|g\nqueue:+5|g\nqueue:-3|g\ntemp:21.5|g")
    assert flushed(statsd) == {"queue": "12", "temp": "21.5"}
    statsd.feed(b"queue:4|g")
    assert flushed(statsd) == {"queue": "4", "temp": "21.5"}


def test_timers_and_histograms_give_count_mean_percentiles_and_max() -> None:
    statsd = StatsdAggregator()
    statsd.feed("\n".join(f"db.query:{v}|ms" for v in range(1, 101)).encode())
    statsd.feed(b"size:10|h|@0.5\nsize:30|h|@0.5")
    points = flushed(statsd)
    assert {k: v for k, v in points.items() if k.startswith("db.query")} == {
        "db.query.count": "100", "db.query.mean": "50.5", "db.query.p50": "50", "db.query.p90": "90",
        "db.query.p99": "99", "db.query.max": "100"}
    assert points["size.count"] == "4" and points["size.mean"] == "20" and points["size.max"] == "30"


def test_sets_count_distinct_values() -> None:
    statsd = StatsdAggregator()
    statsd.feed(b"users:alice|s\nusers:bob|s\nusers:alice|s")
    assert flushed(statsd) == {"users.count": "2"}


def test_malformed_lines_are_counted_and_skipped_and_the_rest_is_read() -> None:
    statsd = StatsdAggregator()
    bad = [b"no-colon|c", b"x:1", b"x:1|q", b"x:abc|c", b"x:1|c|@2", b"x:1|c|@zero", b"x:1|c|junk",
           b":1|c", b"x:nan|g", b"\xff\xfe:1|zz"]
    statsd.feed(b"\n".join([*bad, b"good:1|c", b"", b"  "]))
    assert statsd.malformed == len(bad)
    assert statsd.lines == len(bad) + 1
    assert flushed(statsd) == {"good.count": "1", "good.rate": "0.1"}


def test_dogstatsd_tags_are_accepted_and_ignored() -> None:
    statsd = StatsdAggregator()
    statsd.feed(b"req:1|c|#env:prod\nreq:1|c|@0.5|#env:prod")
    assert flushed(statsd)["req.count"] == "3"


def test_names_become_graphite_paths() -> None:
    assert clean_name("api requests/s") == "api_requests-s"
    assert clean_name("a.b:c*d") == "a.bcd"
    statsd = StatsdAggregator()
    statsd.feed(b"my app.hits:1|c")
    assert "my_app.hits.count" in flushed(statsd)


def test_new_names_past_the_series_cap_are_dropped_and_counted() -> None:
    statsd = StatsdAggregator(max_series=2)
    statsd.feed(b"a:1|c\nb:1|g\nc:1|ms\nd:x|s\na:1|c")
    assert statsd.dropped == 2
    assert flushed(statsd) == {"a.count": "2", "a.rate": "0.2", "b": "1"}
