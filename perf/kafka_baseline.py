#!/usr/bin/env python3
"""Baseline for perf/kafka.sh: a plain librdkafka producer (confluent-kafka).

Produces every line of a JSON-lines file as one message, keyed like httpcap
(the record's `id` without its last part), with httpcap's producer settings
at their defaults. Prints one line: records, failed, wall seconds, CPU
seconds, records per second. The clock starts at the first produce and
stops when the last delivery report is in, so reading the file is excluded.
"""
import argparse
import resource
import sys
import time

from confluent_kafka import Producer


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--input", required=True, help="JSON lines, one record each")
    p.add_argument("--compression", default="snappy")
    args = p.parse_args()

    with open(args.input, "rb") as f:
        lines = [line.rstrip(b"\n") for line in f if line.strip()]
    # The id is the first field of every record: {"id":"<key>-<n>",...
    keys = [line[7 : line.index(b'"', 7)].rsplit(b"-", 1)[0] for line in lines]

    # Same values as engine/src/output/kafka/settings.rs with default config.
    producer = Producer(
        {
            "bootstrap.servers": args.bootstrap,
            "client.id": "perf-baseline",
            "enable.idempotence": True,
            "acks": "all",
            "max.in.flight.requests.per.connection": 3,
            "compression.type": args.compression,
            "linger.ms": 50,
            "batch.size": 2 * 1024 * 1024,
            "batch.num.messages": 500,
            "queue.buffering.max.messages": 30000,
            "queue.buffering.max.kbytes": 2147483647,
            "message.max.bytes": 5 * 1024 * 1024,
        }
    )
    failed = 0

    def report(err, _msg):
        nonlocal failed
        if err is not None:
            failed += 1

    c0, t0 = cpu_seconds(), time.monotonic()
    for key, value in zip(keys, lines):
        while True:
            try:
                producer.produce(args.topic, value, key, on_delivery=report)
                break
            except BufferError:
                # Queue full: a plain producer waits for room rather than drop.
                producer.poll(0.01)
        producer.poll(0)
    left = producer.flush(120)
    wall, cpu = time.monotonic() - t0, cpu_seconds() - c0
    n = len(lines)
    print(f"records={n} failed={failed + left} wall_s={wall:.2f} cpu_s={cpu:.2f} rec_per_s={n / wall:.0f}")
    return 0 if failed + left == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
