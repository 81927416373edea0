#!/usr/bin/env python3
"""An independent Kafka client for the tests: prints every message of TOPIC (all partitions, from
the beginning to the end) as one JSON object per line: {"partition", "offset", "key", "value",
"headers", "value_hex"}, with key and value decoded as UTF-8 (invalid bytes replaced) and the value's
exact bytes in hex.

    consume.py BROKERS TOPIC
"""
import json
import sys

from confluent_kafka import Consumer, KafkaError, TopicPartition, OFFSET_BEGINNING


def text(raw):
    return None if raw is None else raw.decode("utf-8", errors="replace")


def main():
    brokers, topic = sys.argv[1:3]
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": "iotstream-test-reader",
                         "enable.partition.eof": True, "enable.auto.commit": False})
    metadata = consumer.list_topics(topic, timeout=30)
    partitions = sorted(metadata.topics[topic].partitions)
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    done = set()
    while len(done) < len(partitions):
        msg = consumer.poll(30)
        if msg is None:
            sys.exit("timed out reading " + topic)
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                done.add(msg.partition())
                continue
            sys.exit(str(msg.error()))
        headers = {k: text(v) for k, v in (msg.headers() or [])}
        print(json.dumps({"partition": msg.partition(), "offset": msg.offset(), "key": text(msg.key()),
                          "value": text(msg.value()), "headers": headers,
                          "value_hex": (msg.value() or b"").hex()}))
    consumer.close()


if __name__ == "__main__":
    main()
