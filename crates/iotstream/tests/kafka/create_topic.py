#!/usr/bin/env python3
"""An independent Kafka client for the tests: creates TOPIC with PARTITIONS partitions and the
given topic configs (confluent-kafka's admin API), and fails if the broker does not.

    create_topic.py BROKERS TOPIC PARTITIONS [KEY=VALUE ...]
"""
import sys

from confluent_kafka.admin import AdminClient, NewTopic


def main():
    brokers, topic, partitions = sys.argv[1], sys.argv[2], int(sys.argv[3])
    config = dict(pair.split("=", 1) for pair in sys.argv[4:])
    admin = AdminClient({"bootstrap.servers": brokers})
    futures = admin.create_topics([NewTopic(topic, partitions, 1, config=config)], operation_timeout=30)
    futures[topic].result(timeout=60)


if __name__ == "__main__":
    main()
