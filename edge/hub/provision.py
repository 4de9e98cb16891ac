"""`edge-hub provision`: the site's CA, the broker's TLS and config, the hub's login, one bundle per node.

Why it looks like this (docs/security.md has the whole story):

- **Identity binding.** Nodes connect to their own listener, where mosquitto takes the username from
  the client certificate's CN (`use_identity_as_username`) and the client id from the username
  (`use_username_as_clientid`). So a node's certificate *is* its username *is* its client id: node A
  cannot connect as B's client id (no session takeover), cannot read B's `$file-response/...`, and a
  password plays no part (A's certificate with B's password is still A).
- **The hub's tools** (listen, receive, command, serve) need client ids of their own, so they use a
  second listener: TLS with a client certificate *and* the hub's password, the only entry of its
  password file. A node's certificate alone does not get in there.
- **The ACL is per node**, one block each, regenerated from the register on every run: revoking a node
  removes its block (effective at the broker's next reload) and puts its certificate on the CRL.
- **Officers' devices** (a phone app, a body-worn recorder) connect like nodes, with a certificate
  whose CN is `officer-ID` (a name no node may take); their ACL block lets a device write only its own
  officer's position and task reports and read only that officer's tasks.
- **Re-running is idempotent**: the CA, the broker's and the hub's keys and every node's certificate are
  reused while valid; config files are rewritten from the register.
- **Ownership**: mosquitto drops privileges before it reads its key, so key and password file are
  `root:mosquitto 0640`; the hub's TLS key and password are `root:edge-hub 0640`. Run as root and this
  is done here; otherwise the exact command to run is printed.
"""

from __future__ import annotations

import datetime as dt
import grp
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from . import pki

NODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
RESERVED = ("hub", "officer")
OFFICER_ID = re.compile(r"^[A-Za-z0-9_-]{1,56}$")  # as the hub's officer register; "officer-" + id fits a CN
HUB_IDENTITY = "hub"
PASSWORD_VAR = "EDGE_HUB_MQTT_PASSWORD"


class ProvisionError(Exception):
    """A one-line reason provisioning cannot go on."""


@dataclass
class Site:
    """The register kept in `{dir}/provision.json`: broker settings and every node issued."""

    dir: Path
    hosts: list[str]
    node_port: int = 8883
    hub_port: int = 8884
    prefix: str = "edge"
    mosquitto_dir: Path = Path("/etc/mosquitto")
    persistence_dir: Path = Path("/var/lib/mosquitto")
    mosquitto_group: str = "mosquitto"
    hub_group: str = "edge-hub"
    nodes: dict[str, dict] = field(default_factory=dict)
    officers: dict[str, dict] = field(default_factory=dict)  # officer id -> its device's certificate
    todo: list[str] = field(default_factory=list)

    # ---- files -------------------------------------------------------------------------------
    @property
    def register(self) -> Path:
        return self.dir / "provision.json"

    @property
    def ca_dir(self) -> Path:
        return self.dir / "ca"

    @property
    def hub_tls(self) -> Path:
        """The hub tools' broker login: ca.crt, mqtt-client.crt/.key, mqtt.env (not the signing hub.key)."""
        return self.dir / "mqtt"

    @property
    def broker_dir(self) -> Path:
        return self.mosquitto_dir / "edge"

    @property
    def conf_file(self) -> Path:
        return self.mosquitto_dir / "conf.d" / "edge.conf"

    def bundle_path(self, node: str) -> Path:
        return self.dir / "bundles" / f"{node}.tar"

    @classmethod
    def load(cls, folder: Path) -> Site:
        path = folder / "provision.json"
        if not path.exists():
            raise ProvisionError(f"{path}: not found; run `edge-hub provision init --dir {folder} --host NAME` first")
        data = json.loads(path.read_text())
        return cls(dir=folder, hosts=data["hosts"], node_port=data["node_port"], hub_port=data["hub_port"],
                   prefix=data["prefix"], mosquitto_dir=Path(data["mosquitto_dir"]),
                   persistence_dir=Path(data["persistence_dir"]), mosquitto_group=data["mosquitto_group"],
                   hub_group=data["hub_group"], nodes=data.get("nodes", {}), officers=data.get("officers", {}))

    def save(self) -> None:
        data = {"hosts": self.hosts, "node_port": self.node_port, "hub_port": self.hub_port, "prefix": self.prefix,
                "mosquitto_dir": str(self.mosquitto_dir), "persistence_dir": str(self.persistence_dir),
                "mosquitto_group": self.mosquitto_group, "hub_group": self.hub_group, "nodes": self.nodes,
                "officers": self.officers}
        pki.write_file(self.register, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode(), 0o600)

    # ---- ownership ---------------------------------------------------------------------------
    def give_group(self, group: str, *paths: Path, mode: int = 0o640) -> None:
        """root:GROUP MODE, so a service that dropped privileges can read but not change the file."""
        for path in paths:
            os.chmod(path, mode)
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            gid = None
        if os.geteuid() == 0 and gid is not None:
            for path in paths:
                os.chown(path, 0, gid)
            return
        names = " ".join(str(p) for p in paths)
        self.todo.append(f"sudo chown root:{group} {names} && sudo chmod {mode:04o} {names}")

    # ---- the CA ------------------------------------------------------------------------------
    def ca(self):
        key_file, cert_file = self.ca_dir / "ca.key", self.ca_dir / "ca.crt"
        if key_file.exists() and cert_file.exists():
            return pki.load_key(key_file), pki.load_cert(cert_file)
        self.ca_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.ca_dir, 0o700)
        key, cert = pki.make_ca("edge site CA")
        pki.write_file(key_file, pki.key_pem(key), 0o600)
        pki.write_file(cert_file, pki.cert_pem(cert), 0o644)
        return key, cert

    def _leaf(self, folder: Path, stem: str, cn: str, **kwargs) -> tuple[Path, Path, bool]:
        """Reuse `stem`.crt/.key while valid for `cn`; else issue them. Returns (crt, key, new)."""
        crt, key = folder / f"{stem}.crt", folder / f"{stem}.key"
        if crt.exists() and key.exists():
            cert = pki.load_cert(crt)
            if pki.common_name(cert) == cn and not pki.needs_renewal(cert) and self._issued_by_ca(cert):
                return crt, key, False
        ca_key, ca_cert = self.ca()
        k, c = pki.issue(ca_key, ca_cert, cn, **kwargs)
        pki.write_file(key, pki.key_pem(k), 0o600)
        pki.write_file(crt, pki.cert_pem(c), 0o644)
        return crt, key, True

    def _issued_by_ca(self, cert) -> bool:
        _, ca_cert = self.ca()
        return cert.issuer == ca_cert.subject

    def crl(self) -> bytes:
        ca_key, ca_cert = self.ca()
        serials = [int(n["serial"], 16) for n in (*self.nodes.values(), *self.officers.values()) if n.get("revoked")]
        return pki.make_crl(ca_key, ca_cert, serials)

    # ---- broker, hub, nodes ------------------------------------------------------------------
    def write_broker(self) -> None:
        """The broker's certificate, key, CRL, the hub's password, ACL and mosquitto's config."""
        b = self.broker_dir
        b.mkdir(parents=True, exist_ok=True)
        os.chmod(b, 0o755)
        _, ca_cert = self.ca()
        pki.write_file(b / "ca.crt", pki.cert_pem(ca_cert), 0o644)
        names = tuple(dict.fromkeys([*self.hosts, "localhost", "127.0.0.1"]))
        self._leaf(b, "broker", self.hosts[0], server_names=names, client=False)
        self.give_group(self.mosquitto_group, b / "broker.key")
        pki.write_file(b / "crl.pem", self.crl(), 0o644)
        self._write_hub_password()
        pki.write_file(b / "nodes.acl", self.nodes_acl().encode(), 0o644)
        pki.write_file(b / "hub.acl", self.hub_acl().encode(), 0o644)
        pki.write_file(self.conf_file, self.mosquitto_conf().encode(), 0o644)

    def _write_hub_password(self) -> None:
        env = self.hub_tls / "mqtt.env"
        password = None
        if env.exists():
            for line in env.read_text().splitlines():
                if line.startswith(f"{PASSWORD_VAR}="):
                    password = line.split("=", 1)[1]
        password = password or secrets.token_urlsafe(24)
        self.hub_tls.mkdir(parents=True, exist_ok=True)
        os.chmod(self.hub_tls, 0o750)
        t = self.hub_tls
        lines = ["# The hub tools' broker login (edge-hub reads the EDGE_HUB_* variables as its defaults).",
                 f"EDGE_HUB_BROKER={self.hosts[0]}:{self.hub_port}", f"EDGE_HUB_USERNAME={HUB_IDENTITY}",
                 f"EDGE_HUB_TLS_CA={t / 'ca.crt'}", f"EDGE_HUB_TLS_CERT={t / 'mqtt-client.crt'}",
                 f"EDGE_HUB_TLS_KEY={t / 'mqtt-client.key'}", f"EDGE_HUB_PASSWORD_ENV={PASSWORD_VAR}",
                 f"{PASSWORD_VAR}={password}"]
        pki.write_file(env, ("\n".join(lines) + "\n").encode(), 0o640)
        passwd = self.broker_dir / "hub.passwd"
        tmp = passwd.with_name(".hub.passwd.new")
        tmp.write_text("")
        tool = shutil.which("mosquitto_passwd") or shutil.which("mosquitto_passwd", path="/usr/bin:/usr/sbin")
        if tool is None:
            raise ProvisionError("mosquitto_passwd is not installed (apt install mosquitto)")
        subprocess.run([tool, "-b", str(tmp), HUB_IDENTITY, password], check=True, capture_output=True)
        os.replace(tmp, passwd)
        self.give_group(self.mosquitto_group, passwd)

    def write_hub(self) -> None:
        """The hub tools' client certificate; `mqtt.env` holds the broker address and password."""
        _, ca_cert = self.ca()
        pki.write_file(self.hub_tls / "ca.crt", pki.cert_pem(ca_cert), 0o644)
        crt, key, _ = self._leaf(self.hub_tls, "mqtt-client", HUB_IDENTITY)
        self.give_group(self.hub_group, key, self.hub_tls / "mqtt.env")
        self.give_group(self.hub_group, self.hub_tls, mode=0o750)
        signing = self.dir / "hub.key"
        if signing.exists():  # `edge-hub receive` acknowledges and `serve` signs commands with it
            self.give_group(self.hub_group, signing)

    def add_node(self, node: str, hub_pub: Path) -> Path:
        check_node_name(node)
        entry = self.nodes.get(node, {})
        if entry.get("revoked"):
            raise ProvisionError(f"node {node} was revoked; give the replacement a new node id")
        if not hub_pub.is_file():
            raise ProvisionError(f"{hub_pub}: not found; make the command-signing key first "
                                 f"(edge-hub keys init --dir {hub_pub.parent})")
        folder = self.dir / "nodes"
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        crt, key, new = self._leaf(folder, node, node)
        serial = format(pki.load_cert(crt).serial_number, "x")
        if new or entry.get("serial") != serial:
            entry = {"serial": serial, "issued_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        self.nodes[node] = entry
        bundle = self.bundle_path(node)
        pki.write_file(bundle, self._bundle(node, crt, key, hub_pub), 0o600)
        return bundle

    def add_officer(self, officer: str, hub_pub: Path) -> Path:
        """Issue (or reuse) the certificate of an officer's device, CN `officer-ID`; its bundle."""
        if not OFFICER_ID.match(officer):
            raise ProvisionError(f"officer id {officer!r}: letters, digits, - and _ only (at most 56)")
        entry = self.officers.get(officer, {})
        if entry.get("revoked"):
            raise ProvisionError(f"officer {officer}'s device was revoked; issue the new device under a new officer "
                                 "id, or remove the entry from the register")
        if not hub_pub.is_file():
            raise ProvisionError(f"{hub_pub}: not found; make the command-signing key first "
                                 f"(edge-hub keys init --dir {hub_pub.parent})")
        folder = self.dir / "officers"
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        cn = officer_cn(officer)
        crt, key, new = self._leaf(folder, cn, cn)
        serial = format(pki.load_cert(crt).serial_number, "x")
        if new or entry.get("serial") != serial:
            entry = {"serial": serial, "cn": cn, "issued_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        self.officers[officer] = entry
        p = self.prefix
        info = {"officer": officer, "client_id": cn, "host": self.hosts[0], "port": self.node_port, "prefix": p,
                "publish": [f"{p}/officer/{officer}/position", f"{p}/officer/{officer}/task_state"],
                "subscribe": [f"{p}/officer/{officer}/task"]}
        bundle = self.bundle_path(cn)
        pki.write_file(bundle, self._pack(cn, info, {"device.crt": crt.read_bytes(), "device.key": key.read_bytes(),
                                                     "hub.pub": hub_pub.read_bytes()}), 0o600)
        return bundle

    def revoke(self, name: str) -> None:
        """Revoke a node, or an officer's device (`officer-ID`)."""
        officer = name.removeprefix("officer-") if name.startswith("officer-") else None
        if officer is not None and officer in self.officers:
            entry, key = self.officers[officer], self.dir / "officers" / f"{name}.key"
        elif name in self.nodes:
            entry, key = self.nodes[name], self.dir / "nodes" / f"{name}.key"
        else:
            raise ProvisionError(f"{name} is not in {self.register} (an officer's device is officer-ID)")
        entry["revoked"] = True
        entry["revoked_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self.bundle_path(name).unlink(missing_ok=True)
        key.unlink(missing_ok=True)

    def _bundle(self, node: str, crt: Path, key: Path, hub_pub: Path) -> bytes:
        info = {"node": node, "host": self.hosts[0], "port": self.node_port, "prefix": self.prefix}
        return self._pack(node, info, {"node.crt": crt.read_bytes(), "node.key": key.read_bytes(),
                                       "hub.pub": hub_pub.read_bytes()})

    def _pack(self, top: str, info: dict, files: dict[str, bytes]) -> bytes:
        _, ca_cert = self.ca()
        files = {"bundle.json": (json.dumps(info, indent=2) + "\n").encode(), "ca.crt": pki.cert_pem(ca_cert), **files}
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as tar:
            for name, data in files.items():
                member = tarfile.TarInfo(f"{top}/{name}")
                member.size, member.mode, member.mtime = len(data), 0o600, 0
                tar.addfile(member, io.BytesIO(data))
        return out.getvalue()

    # ---- text --------------------------------------------------------------------------------
    def active_nodes(self) -> list[str]:
        return sorted(n for n, e in self.nodes.items() if not e.get("revoked"))

    def nodes_acl(self) -> str:
        p = self.prefix
        out = ["# Written by `edge-hub provision`; edit the register, not this file.",
               "# One block per node: its username is its certificate's CN and its client id.",
               "# (mosquitto: + and # never match a leading $, so $ topics are named in full.)", ""]
        for node in self.active_nodes():
            out += [f"user {node}"]
            out += [f"topic write {p}/{node}/{t}" for t in ("status", "alert", "stats", "cmd_result")]
            out += [f"topic read {p}/{node}/cmd/#", f"topic read {p}/{node}/receipt", f"topic read {p}/hub/boot",
                    "topic write $file-async/#", "topic write $file/#",
                    f"topic read $file-response/{node}", f"topic read $file-response/edge-{node}", ""]
        officers = self.active_officers()
        if officers:
            out += ["# Officers' devices: the CN is officer-ID; each reports for its own officer only.", ""]
        for officer in officers:
            out += [f"user {officer_cn(officer)}", f"topic write {p}/officer/{officer}/position",
                    f"topic write {p}/officer/{officer}/task_state", f"topic read {p}/officer/{officer}/task", ""]
        return "\n".join(out)

    def active_officers(self) -> list[str]:
        return sorted(o for o, e in self.officers.items() if not e.get("revoked"))

    def hub_acl(self) -> str:
        p = self.prefix
        return "\n".join([
            "# Written by `edge-hub provision`: the hub's tools (listen, receive, command, serve).",
            f"user {HUB_IDENTITY}",
            f"topic read {p}/#",
            f"topic write {p}/+/cmd/#",
            f"topic write {p}/+/receipt",
            f"topic write {p}/hub/boot",
            f"topic write {p}/+/status",
            f"topic write {p}/officer/+/task",
            "topic read $file-async/#",
            "topic read $file/#",
            "topic write $file-response/#",
            ""])

    def main_conf_text(self) -> str:
        main = self.mosquitto_dir / "mosquitto.conf"
        return main.read_text(errors="replace") if main.exists() else ""

    def mosquitto_conf(self, main_conf: str | None = None) -> str:
        """conf.d/edge.conf. mosquitto refuses a second `persistence_location`, so it is written only
        when the main mosquitto.conf (Debian's sets /var/lib/mosquitto/) has none."""
        main_conf = self.main_conf_text() if main_conf is None else main_conf
        has_location = any(line.split()[:1] == ["persistence_location"] for line in main_conf.splitlines())
        location = ([] if has_location else [f"persistence_location {self.persistence_dir}/"])
        b = self.broker_dir
        tls = [f"cafile {b / 'ca.crt'}", f"certfile {b / 'broker.crt'}", f"keyfile {b / 'broker.key'}",
               f"crlfile {b / 'crl.pem'}", "require_certificate true", "tls_version tlsv1.2",
               "allow_anonymous false"]
        return "\n".join([
            "# Written by `edge-hub provision` (docs/security.md). Re-run it instead of editing.",
            "per_listener_settings true",
            "set_tcp_nodelay true",
            "# Persistence: sessions and queued QoS 1 messages survive a restart; saved every 5 s, so a",
            "# crash costs at most that window at the broker, and the hub's receipts cover it end to end.",
            "persistence true",
            *location,
            "autosave_interval 5",
            "autosave_on_changes false",
            "# The hub stores messages in batches and acknowledges a batch after its commit: with",
            "# mosquitto's default of 20 messages in flight per client a batch could never be larger.",
            "max_inflight_messages 1000",
            "# Queued for a session that is away (a hub worker restarting): the default, 1000, drops the",
            "# rest at the broker, to come again only when the nodes resend what has no receipt.",
            "max_queued_messages 100000",
            "",
            "# Nodes: the certificate's CN is the username and the client id.",
            f"listener {self.node_port}",
            *tls,
            "use_identity_as_username true",
            "use_username_as_clientid true",
            f"acl_file {b / 'nodes.acl'}",
            "",
            "# The hub's tools: certificate and the hub's password; client ids of their own.",
            f"listener {self.hub_port}",
            *tls,
            f"password_file {b / 'hub.passwd'}",
            f"acl_file {b / 'hub.acl'}",
            ""])


def officer_cn(officer: str) -> str:
    """The certificate CN (so the broker username and client id) of an officer's device."""
    return f"officer-{officer}"


def check_node_name(node: str) -> None:
    if not NODE_NAME.match(node):
        raise ProvisionError(f"node id {node!r}: letters, digits, - and _ only (at most 64)")
    if node.lower().startswith(RESERVED) or node.startswith("edge-hub"):
        raise ProvisionError(f"node id {node!r}: names starting with {', '.join(RESERVED)} are the hub's")
