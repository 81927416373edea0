#!/usr/bin/env python3
"""A bare MQTT subscriber (paho-mqtt): no parsing, no engine. `--prepare` creates its persistent
session (QoS 1 subscription) and leaves; without it, it reconnects to the session, receives COUNT
messages (paho acknowledges each on receipt) and prints the rate in messages per second.

    mqtt_drain.py HOST PORT CLIENT_ID TOPIC COUNT [--prepare]
"""
import sys
import threading
import time

import paho.mqtt.client as mqtt


def main():
    host, port, client_id, topic, count = sys.argv[1:6]
    port, count = int(port), int(count)
    prepare = "--prepare" in sys.argv
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    done = threading.Event()
    state = {"n": 0, "first": None}

    def on_connect(client, userdata, flags, reason, properties):
        client.subscribe(topic, qos=1)
        if prepare:
            done.set()

    def on_message(client, userdata, message):
        if state["first"] is None:
            state["first"] = time.monotonic()
        state["n"] += 1
        if state["n"] >= count:
            done.set()

    client.on_connect = on_connect
    client.on_message = on_message
    properties = mqtt.Properties(mqtt.PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 3600
    properties.ReceiveMaximum = 65535
    client.connect(host, port, clean_start=False, properties=properties)
    started = time.monotonic()
    client.loop_start()
    done.wait(600)
    seconds = time.monotonic() - started
    if prepare:
        time.sleep(0.5)
    client.disconnect()
    client.loop_stop()
    if not prepare:
        print(f"{count / seconds:.0f}")


if __name__ == "__main__":
    main()
