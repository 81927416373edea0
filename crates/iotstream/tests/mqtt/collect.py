#!/usr/bin/env python3
"""An independent MQTT subscriber for the tests (paho-mqtt): subscribes to FILTER at QoS 1,
prints `ready` once the broker has granted it, then one line `TOPIC<TAB>PAYLOAD` per message
until COUNT have arrived (exit 0) or 60 s have passed (exit 1).

    collect.py HOST PORT FILTER COUNT
"""
import sys
import threading

import paho.mqtt.client as mqtt


def main():
    host, port, pattern, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    received = []
    done = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-collector", protocol=mqtt.MQTTv5)

    def on_connect(client, userdata, flags, reason, properties):
        client.subscribe(pattern, qos=1)

    def on_subscribe(client, userdata, mid, reasons, properties):
        print("ready", flush=True)

    def on_message(client, userdata, message):
        received.append(f"{message.topic}\t{message.payload.decode('utf-8', 'replace')}")
        if len(received) >= count:
            done.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(host, port)
    client.loop_start()
    ok = done.wait(60)
    client.disconnect()
    client.loop_stop()
    for line in received:
        print(line)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
