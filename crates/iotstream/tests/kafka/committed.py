#!/usr/bin/env python3
"""An independent Kafka client for the tests: prints the offsets GROUP has committed on TOPIC as
one JSON object, {"PARTITION": OFFSET}, leaving out partitions with no committed offset. Reads
them only: it joins no group and commits nothing.

    committed.py BROKERS TOPIC GROUP
"""
import json
import sys

from confluent_kafka import Consumer, TopicPartition


def main():
    brokers, topic, group = sys.argv[1:4]
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": group, "enable.auto.commit": False})
    metadata = consumer.list_topics(topic, timeout=30)
    partitions = [TopicPartition(topic, p) for p in sorted(metadata.topics[topic].partitions)]
    committed = consumer.committed(partitions, timeout=30)
    print(json.dumps({str(tp.partition): tp.offset for tp in committed if tp.offset >= 0}))
    consumer.close()


if __name__ == "__main__":
    main()
