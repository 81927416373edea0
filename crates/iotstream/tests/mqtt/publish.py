#!/usr/bin/env python3
"""An independent MQTT client for the tests (paho-mqtt): publishes each line of FILE as one
message at QoS 1 (or --qos 0 or 2) to TOPIC, and exits once every one is sent (QoS 0) or the broker
has acknowledged it (QoS 1 and 2). Lines of the form
`TOPIC<TAB>PAYLOAD` go to their own topic. Rides out a broker restart (reconnects, and paho sends
unacknowledged messages again).

    publish.py HOST PORT TOPIC FILE [--rate N] [--v3] [--qos 0|1|2]
"""
import argparse
import time

import paho.mqtt.client as mqtt


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("topic")
    parser.add_argument("file")
    parser.add_argument("--rate", type=float, default=0)
    parser.add_argument("--v3", action="store_true")
    parser.add_argument("--qos", type=int, choices=(0, 1, 2), default=1)
    args = parser.parse_args()
    protocol = mqtt.MQTTv311 if args.v3 else mqtt.MQTTv5
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"paho-publisher-{time.time_ns()}",
                         protocol=protocol)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(0.1, 2)
    client.connect(args.host, args.port, keepalive=10)
    client.loop_start()
    infos = []
    started = time.monotonic()
    with open(args.file, "rb") as lines:
        for number, line in enumerate(lines):
            line = line.rstrip(b"\n")
            topic, payload = args.topic, line
            if b"\t" in line:
                raw_topic, payload = line.split(b"\t", 1)
                topic = raw_topic.decode()
            infos.append(client.publish(topic, payload, qos=args.qos))
            if args.rate:
                ahead = (number + 1) / args.rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
    deadline = time.monotonic() + 300
    for info in infos:
        while not info.is_published():
            if time.monotonic() > deadline:
                raise SystemExit("the broker did not acknowledge every message")
            time.sleep(0.01)
    client.disconnect()
    client.loop_stop()
    print(len(infos))


if __name__ == "__main__":
    main()
