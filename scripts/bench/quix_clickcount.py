"""The click-count job of Flink's operations playground in Quix Streams, exactly-once: the peer
that `sluice-bench` measures Sluice's click-count job against (contender d).

Same logic as Sources/SluiceClickCount/ClickCountJob.swift: JSON click events
{"timestamp":"01-01-1970 12:07:31:320","page":"/news"}, event time from the timestamp field
(dd-MM-yyyy hh:mm:ss:SSS, UTC, 12-hour clock without AM/PM), grouped by page, 15 s tumbling
windows with 200 ms grace, count, one JSON record per window and page:
{"windowStart":"01-01-1970 12:06:30:000","windowEnd":"01-01-1970 12:06:45:000","page":"/help","count":1000}

Runs until killed. Commits (Quix's checkpoints) every second, like Sluice's 1 s checkpoints.
"""
import argparse
import calendar
import logging

from quixstreams import Application


def parse_playground_time(text):
    # "dd-MM-yyyy hh:mm:ss:SSS"; hour 12 means 0 (no AM/PM marker), as Java's parser reads it.
    day, month, rest = text[0:2], text[3:5], text[6:]
    year, clock = rest[0:4], rest[5:]
    hour, minute, second, milli = clock.split(":")
    seconds = calendar.timegm((int(year), int(month), int(day), int(hour) % 12, int(minute), int(second), 0, 0, 0))
    return seconds * 1000 + int(milli)


def format_playground_time(millis):
    seconds, milli = divmod(int(millis), 1000)
    import time
    t = time.gmtime(seconds)
    hour12 = t.tm_hour % 12 or 12
    return "%02d-%02d-%04d %02d:%02d:%02d:%03d" % (t.tm_mday, t.tm_mon, t.tm_year, hour12, t.tm_min, t.tm_sec, milli)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--input", default="input")
    parser.add_argument("--output", default="output")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--group", default="quix-click-count")
    parser.add_argument("--commit-interval", type=float, default=1.0)
    args = parser.parse_args()

    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        processing_guarantee="exactly-once",
        commit_interval=args.commit_interval,
        state_dir=args.state_dir,
        loglevel=logging.INFO,
    )
    clicks = app.topic(
        args.input,
        value_deserializer="json",
        timestamp_extractor=lambda value, headers, timestamp, timestamp_type: parse_playground_time(value["timestamp"]),
    )
    statistics = app.topic(args.output, value_serializer="json")

    sdf = app.dataframe(clicks)
    sdf = sdf.group_by("page")
    # The repartition topic carries Kafka timestamps (produce time), not event time: set it again.
    sdf = sdf.set_timestamp(lambda value, key, timestamp, headers: parse_playground_time(value["timestamp"]))
    sdf = sdf.tumbling_window(duration_ms=15_000, grace_ms=200).count().final()
    sdf = sdf.apply(
        lambda window, key, timestamp, headers: {
            "windowStart": format_playground_time(window["start"]),
            "windowEnd": format_playground_time(window["end"]),
            "page": key.decode() if isinstance(key, bytes) else key,
            "count": window["value"],
        },
        metadata=True,
    )
    sdf.to_topic(statistics)
    print("quix-click-count: starting", flush=True)
    app.run()


if __name__ == "__main__":
    main()
