"""TCP options for the node's MQTT connection."""

from __future__ import annotations

import socket

import paho.mqtt.client as mqtt


def congestion_control(client: mqtt.Client, name: str) -> str | None:
    """Ask for a TCP congestion control on the connection; returns why not, or None when it is set.

    Linux lets any process choose one listed in net.ipv4.tcp_allowed_congestion_control (root may
    load others); elsewhere, or when the kernel has no such module, the system default stays."""
    sock = client.socket()
    if not name or sock is None or not hasattr(socket, "TCP_CONGESTION"):
        return None if not name else "not supported here"
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, name.encode())
    except (OSError, AttributeError) as exc:
        return getattr(exc, "strerror", None) or str(exc)
    return None
