"""How the hub's tools connect to the broker: one set of options for every edge-hub command."""

from __future__ import annotations

import argparse
import os
import ssl
import sys
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from .settings import RECONNECT_INITIAL_S, RECONNECT_MAX_S, BrokerSettings


def add_broker_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("broker")
    g.add_argument("--broker", default=os.environ.get("EDGE_HUB_BROKER", "localhost:1883"), metavar="HOST:PORT",
                   help="broker address (default $EDGE_HUB_BROKER or localhost:1883)")
    g.add_argument("--prefix", default="edge", help="topic prefix (default edge)")
    g.add_argument("--username", default=os.environ.get("EDGE_HUB_USERNAME"))
    # The EDGE_HUB_* defaults come from the hub's mqtt.env (`edge-hub provision init`), so a unit or a
    # shell that loads it needs no TLS flags.
    env = os.environ.get
    g.add_argument("--password-env", metavar="VAR", default=env("EDGE_HUB_PASSWORD_ENV"),
                   help="read the password from this environment variable (default $EDGE_HUB_PASSWORD_ENV)")
    g.add_argument("--tls-ca", metavar="FILE", default=env("EDGE_HUB_TLS_CA"),
                   help="CA certificate: connect with TLS (default $EDGE_HUB_TLS_CA)")
    g.add_argument("--tls-cert", metavar="FILE", default=env("EDGE_HUB_TLS_CERT"),
                   help="client certificate (default $EDGE_HUB_TLS_CERT)")
    g.add_argument("--tls-key", metavar="FILE", default=env("EDGE_HUB_TLS_KEY"),
                   help="client key (default $EDGE_HUB_TLS_KEY)")
    g.add_argument("--client-id", help="MQTT client id (default: per command)")
    g.add_argument("--reconnect-max", type=float, default=RECONNECT_MAX_S, metavar="S",
                   help=f"longest wait between reconnect attempts after losing the broker (default {RECONNECT_MAX_S:g})")


def parse_broker(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--broker {text!r}: expected HOST:PORT")
    return host, int(port)


def connect(settings: BrokerSettings, client_id: str, *, persistent: bool = False, timeout: float = 10.0,
            on_message=None, subscriptions: tuple[str, ...] = (), wait_for_broker: bool = False,
            announce: tuple[str, bytes] | None = None) -> mqtt.Client:
    """A connected client with its loop running; raises ConnectionError with one line on failure.

    `wait_for_broker` (the hub's services, listen and receive): a broker that cannot be reached yet
    (restarting, or started after the hub) is tried again with the same back-off as a lost
    connection instead of ending the service; a broker that refuses the credentials still ends it.
    `announce` (topic, payload) is published retained on every connect (the hub's boot message)."""
    host, port = parse_broker(settings.broker)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=settings.client_id or client_id,
                         protocol=mqtt.MQTTv5)
    if settings.username:
        password = os.environ.get(settings.password_env) if settings.password_env else None
        if settings.password_env and password is None:
            raise ConnectionError(f"environment variable {settings.password_env} is not set")
        client.username_pw_set(settings.username, password)
    if settings.tls_ca:
        client.tls_set(ca_certs=settings.tls_ca, certfile=settings.tls_cert, keyfile=settings.tls_key,
                       cert_reqs=ssl.CERT_REQUIRED)
    state: dict = {}

    def on_connect(c, userdata, flags, reason_code, properties):
        from ..link.mqtt import nodelay

        nodelay(c)
        state["rc"] = reason_code
        if not reason_code.is_failure and subscriptions:
            c.subscribe([(t, 1) for t in subscriptions])
        if not reason_code.is_failure and announce is not None:
            c.publish(announce[0], announce[1], qos=1, retain=True)

    client.on_connect = on_connect
    client.reconnect_delay_set(RECONNECT_INITIAL_S, max(RECONNECT_INITIAL_S,
                                                        settings.reconnect_max))
    client.on_subscribe = lambda c, u, mid, rcs, p: state.setdefault("subscribed", True)
    if on_message is not None:
        client.on_message = on_message
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 7 * 24 * 3600 if persistent else 0
    delay = RECONNECT_INITIAL_S
    while True:
        try:
            client.connect(host, port, clean_start=not persistent, properties=props)
            break
        except (OSError, ssl.SSLError) as exc:
            if not wait_for_broker or isinstance(exc, ssl.SSLError):
                raise ConnectionError(f"cannot connect to {host}:{port}: {exc}") from None
            print(f"edge-hub: cannot connect to {host}:{port}: {exc}; retrying in {delay:g} s", file=sys.stderr,
                  flush=True)
            time.sleep(delay)
            delay = min(delay * 2, max(RECONNECT_INITIAL_S, settings.reconnect_max))
    client.loop_start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and ("rc" not in state or (subscriptions and "subscribed" not in state)):
        if "rc" in state and state["rc"].is_failure:
            break
        time.sleep(0.02)
    if "rc" not in state or state["rc"].is_failure:
        client.loop_stop()
        reason = state.get("rc", "no answer")
        raise ConnectionError(f"broker {host}:{port} refused the connection: {reason}")
    return client
