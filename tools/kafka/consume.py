#!/usr/bin/env python3
"""Independent verification consumer for httpcap's Kafka output.

Uses confluent-kafka (librdkafka from PyPI), not our producer code, so a test
that compares what this prints with httpcap's file output checks the whole
path through a real broker.

  consume.py read   --bootstrap 127.0.0.1:19092 --topic T [--keys|--meta] [--idle-ms 2000]
  consume.py create --bootstrap 127.0.0.1:19092 --topic T [--partitions 3]
  consume.py count  --bootstrap ... --topic T

`read` assigns every partition from offset 0 (no consumer group, so runs
never share offsets), prints each value as one line (with --meta, one JSON
object per message: key, timestamp in ms and its type, headers, value) and
stops once at least
--expect messages were read and nothing new arrived for --idle-ms. Exit code 0
on success, 2 on a broker/topic error.

Why offset 0 and not OFFSET_BEGINNING or the watermarks: Tansu's ListOffsets
answers are not reliable. It was seen to report a log start of 238 or 287 on a
fresh topic whose records start at 0 (the consumer then silently skipped
them), and high watermarks about half the real record count. Fetch itself is
exact, and the test topics are created fresh and never truncated, so reading
from 0 and waiting for the count the caller expects is both simple and
independent of those answers. The watermarks are still printed, as
diagnostics only.
"""
import argparse
import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def client_conf(args):
    conf = {"bootstrap.servers": args.bootstrap}
    if args.username:
        conf.update(
            {
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": args.mechanism,
                "sasl.username": args.username,
                "sasl.password": args.password or "",
            }
        )
    return conf


def create(args):
    admin = AdminClient(client_conf(args))
    futures = admin.create_topics(
        [NewTopic(args.topic, num_partitions=args.partitions, replication_factor=1)],
        operation_timeout=10,
        request_timeout=15,
    )
    for name, fut in futures.items():
        try:
            fut.result()
            print(f"created {name}", file=sys.stderr)
        except KafkaException as e:
            err = e.args[0]
            # Creating an existing topic is fine: tests call this idempotently.
            if err.name() == "TOPIC_ALREADY_EXISTS":
                print(f"exists {name}", file=sys.stderr)
            else:
                print(f"create {name} failed: {err}", file=sys.stderr)
                return 2
    return 0


def partitions_of(consumer, topic, deadline):
    while time.monotonic() < deadline:
        md = consumer.list_topics(topic, timeout=5)
        t = md.topics.get(topic)
        if t is not None and t.error is None and t.partitions:
            return sorted(t.partitions)
        time.sleep(0.2)
    return None


def read(args):
    conf = client_conf(args)
    conf.update(
        {
            # A group id is required by librdkafka even with manual assignment;
            # nothing is committed, so it never affects another run.
            "group.id": "httpcap-verify",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "fetch.message.max.bytes": 64 * 1024 * 1024,
            "receive.message.max.bytes": 128 * 1024 * 1024,
        }
    )
    consumer = Consumer(conf)
    deadline = time.monotonic() + args.timeout
    parts = partitions_of(consumer, args.topic, deadline)
    if parts is None:
        print(f"topic {args.topic} not found", file=sys.stderr)
        return 2
    # Diagnostics only (see the module docstring).
    watermarks = {}
    for p in parts:
        watermarks[p] = consumer.get_watermark_offsets(
            TopicPartition(args.topic, p), timeout=10, cached=False
        )
    consumer.assign([TopicPartition(args.topic, p, 0) for p in parts])
    next_offset = {p: 0 for p in parts}
    last_msg = time.monotonic()
    count = 0
    out = sys.stdout
    while time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        now = time.monotonic()
        if msg is None:
            if count >= args.expect and now - last_msg >= args.idle_ms / 1000:
                break
            continue
        if msg.error():
            if msg.error().code() == -191:  # _PARTITION_EOF
                continue
            print(f"consume error: {msg.error()}", file=sys.stderr)
            return 2
        next_offset[msg.partition()] = msg.offset() + 1
        last_msg = now
        count += 1
        value = (msg.value() or b"").decode("utf-8", "replace")
        if args.meta:
            ts_type, ts = msg.timestamp()
            kind = {1: "create", 2: "log_append"}.get(ts_type, "none")
            headers = {
                k: (v or b"").decode("utf-8", "replace") for k, v in (msg.headers() or [])
            }
            key = (msg.key() or b"").decode("utf-8", "replace")
            meta = {"key": key, "timestamp_ms": ts, "timestamp_type": kind, "headers": headers}
            meta["value"] = value
            out.write(json.dumps(meta) + "\n")
        elif args.keys:
            key = (msg.key() or b"").decode("utf-8", "replace")
            out.write(f"{key}\t{value}\n")
        elif not args.count_only:
            out.write(value + "\n")
    consumer.close()
    if count < args.expect:
        print(
            f"timed out with {count} of {args.expect} messages "
            f"(next offsets {next_offset}, watermarks {watermarks})",
            file=sys.stderr,
        )
        return 2
    if args.count_only:
        out.write(f"{count}\n")
    print(
        f"read {count} messages from {len(parts)} partitions "
        f"(next offsets {next_offset}; broker-reported watermarks {watermarks})",
        file=sys.stderr,
    )
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cmd", choices=["read", "create", "count"])
    p.add_argument("--bootstrap", default="127.0.0.1:19092")
    p.add_argument("--topic", required=True)
    p.add_argument("--partitions", type=int, default=3)
    p.add_argument("--keys", action="store_true", help="print key<TAB>value")
    p.add_argument(
        "--meta", action="store_true", help="print key, timestamp, headers and value as JSON"
    )
    p.add_argument("--idle-ms", type=int, default=1500)
    p.add_argument(
        "--expect", type=int, default=0, help="keep reading until this many arrived (or --timeout)"
    )
    p.add_argument("--timeout", type=float, default=60, help="overall bound, seconds")
    p.add_argument("--username")
    p.add_argument("--password")
    p.add_argument("--mechanism", default="SCRAM-SHA-256")
    args = p.parse_args()
    args.count_only = args.cmd == "count"
    if args.cmd == "create":
        return create(args)
    return read(args)


if __name__ == "__main__":
    sys.exit(main())
