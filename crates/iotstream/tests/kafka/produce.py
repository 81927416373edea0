#!/usr/bin/env python3
"""An independent Kafka client for the tests: sends every line of FILE as one message to TOPIC
with Python's confluent-kafka (which bundles its own librdkafka), keyed by nothing, as the seed's
kafka-console-producer did.

    produce.py BROKERS TOPIC FILE
"""
import sys

from confluent_kafka import Producer


def main():
    brokers, topic, path = sys.argv[1:4]
    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 20, "queue.buffering.max.messages": 1000000})
    failed = []

    def delivered(err, _msg):
        if err is not None:
            failed.append(err)

    with open(path, "rb") as lines:
        for line in lines:
            message = line[:-1] if line.endswith(b"\n") else line
            while True:
                try:
                    producer.produce(topic, message, on_delivery=delivered)
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
    if producer.flush(60) != 0 or failed:
        sys.exit(f"delivery failed: {failed[:3]}")


if __name__ == "__main__":
    main()
