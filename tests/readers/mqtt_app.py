"""Uses MQTT_URL and MQTT_TOPIC_PREFIX as an app does with paho-mqtt: connects (the
client id is the URL's user, the one id its client may take), subscribes under the
prefix, publishes there and waits for its message back. Prints "got: <payload>", or
"refused: <reason>" when the broker refuses the login.
"""

import os
import sys
import threading
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt

url = urlsplit(os.environ["MQTT_URL"])
prefix = os.environ["MQTT_TOPIC_PREFIX"]
user, password = unquote(url.username or ""), unquote(url.password or "")
topic = prefix + "greetings"

connected, got = threading.Event(), threading.Event()
outcome = {}


def on_connect(client, userdata, flags, reason, properties):
    if reason.is_failure:
        outcome["refused"] = str(reason)
        connected.set()
        return
    client.subscribe(topic, qos=1)


def on_subscribe(client, userdata, mid, reasons, properties):
    if any(reason.is_failure for reason in reasons):
        outcome["refused"] = "subscription refused"
    connected.set()


def on_message(client, userdata, message):
    outcome["got"] = message.payload.decode()
    got.set()


client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=user)
client.username_pw_set(user, password)
client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
client.connect(url.hostname, url.port or 1883, keepalive=30)
client.loop_start()
if not connected.wait(10):
    sys.exit("no answer from the broker")
if "refused" in outcome:
    print("refused:", outcome["refused"])
else:
    client.publish(topic, b"hello from paho", qos=1).wait_for_publish(10)
    if not got.wait(10):
        sys.exit("the message did not come back")
    print("got:", outcome["got"])
client.loop_stop()
client.disconnect()
