"""A real mosquitto for the tests: plain or TLS with client certificates, passwords and an ACL."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from simulator.broker import Broker as _Broker

from .conftest import require_tool


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    os.chmod(path, 0o600)


def _cert(subject_cn: str, key, issuer_cert, issuer_key, *, ca: bool = False, server: bool = False) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)])
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer_cert.subject if issuer_cert is not None else name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


class Pki:
    """A CA, a server certificate for 127.0.0.1, and client certificates on demand."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.ca_key = _key()
        self.ca_cert = _cert("edge test CA", self.ca_key, None, self.ca_key, ca=True)
        self.ca_file = folder / "ca.crt"
        self.ca_file.write_bytes(self.ca_cert.public_bytes(serialization.Encoding.PEM))
        self.server_cert, self.server_key = self.client("broker", server=True)

    def client(self, name: str, server: bool = False) -> tuple[Path, Path]:
        key = _key()
        cert = _cert(name, key, self.ca_cert, self.ca_key, server=server)
        cert_file, key_file = self.folder / f"{name}.crt", self.folder / f"{name}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, key_file)
        return cert_file, key_file


class Broker(_Broker):
    """The shared local mosquitto, with the tests' PKI for TLS."""

    def __init__(self, folder: Path, *, pki: Pki | None = None, users: dict[str, str] | None = None,
                 acl: str | None = None, persistence: bool = True):
        require_tool("mosquitto")
        tls = None if pki is None else {"cafile": pki.ca_file, "certfile": pki.server_cert, "keyfile": pki.server_key}
        super().__init__(folder, tls=tls, users=users, acl=acl, persistence=persistence)
        self.pki = pki


class Subscriber:
    """A hub-side client with a persistent session that records what arrives."""

    def __init__(self, broker: Broker, topics: list[str], client_id: str = "test-hub", *, username=None,
                 password=None, cert: tuple[Path, Path] | None = None):
        self.messages: list[tuple[str, bytes, bool]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if username:
            self.client.username_pw_set(username, password)
        if broker.pki is not None:
            self.client.tls_set(ca_certs=str(broker.pki.ca_file), certfile=str(cert[0]), keyfile=str(cert[1]))
        self.topics = topics
        self.ready = False
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload, m.retain))
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self.client.connect_async("127.0.0.1", broker.port, clean_start=False, properties=props)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        client.subscribe([(topic, 1) for topic in self.topics])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self.ready = True

    def wait_ready(self, timeout: float = 10.0) -> Subscriber:
        deadline = time.monotonic() + timeout
        while not self.ready and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.ready, "the test subscriber could not subscribe"
        self.ready = False  # the next (re)connect sets it again
        return self

    def wait_for(self, predicate, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.messages):
                return True
            time.sleep(0.02)
        return predicate(self.messages)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
