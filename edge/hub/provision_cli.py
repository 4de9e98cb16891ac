"""`edge-hub provision init|node|officer|revoke|list`: the command line of edge/hub/provision.py."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .provision import ProvisionError, Site


def _report(site: Site) -> None:
    for line in site.todo:
        print(f"run as root: {line}")


def cmd_init(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    try:
        site = Site.load(folder) if (folder / "provision.json").exists() else None
    except ProvisionError:
        site = None
    if site is None:
        if not args.host:
            print("edge-hub provision init: --host is required the first time", file=sys.stderr)
            return 2
        site = Site(dir=folder, hosts=[])
    if args.host:
        site.hosts = list(dict.fromkeys(args.host))
    for name in ("node_port", "hub_port", "prefix", "mosquitto_group", "hub_group"):
        if getattr(args, name) is not None:
            setattr(site, name, getattr(args, name))
    if args.mosquitto_dir:
        site.mosquitto_dir = Path(args.mosquitto_dir)
    if args.persistence_dir:
        site.persistence_dir = Path(args.persistence_dir)
    folder.mkdir(parents=True, exist_ok=True)
    site.write_broker()
    site.write_hub()
    site.save()
    print(f"CA:              {site.ca_dir / 'ca.crt'} (key {site.ca_dir / 'ca.key'}: keep it offline if you can)")
    print(f"broker config:   {site.conf_file} (nodes on port {site.node_port}, hub tools on {site.hub_port})")
    print(f"broker files:    {site.broker_dir}/")
    print(f"hub broker login: {site.hub_tls}/ (mqtt-client.crt, mqtt-client.key, mqtt.env; "
          "not the command-signing hub.key)")
    _report(site)
    return 0


def cmd_node(args: argparse.Namespace) -> int:
    site = Site.load(Path(args.dir))
    hub_pub = Path(args.hub_pub) if args.hub_pub else site.dir / "hub.pub"
    bundles = [site.add_node(node, hub_pub) for node in args.nodes]
    site.write_broker()
    site.save()
    for node, bundle in zip(args.nodes, bundles, strict=True):
        print(f"{node}: bundle {bundle} (copy it to the node; it holds the node's private TLS key)")
    print("reload the broker so it reads the new ACL: systemctl reload mosquitto")
    _report(site)
    return 0


def cmd_officer(args: argparse.Namespace) -> int:
    site = Site.load(Path(args.dir))
    hub_pub = Path(args.hub_pub) if args.hub_pub else site.dir / "hub.pub"
    bundles = [site.add_officer(officer, hub_pub) for officer in args.officers]
    site.write_broker()
    site.save()
    for officer, bundle in zip(args.officers, bundles, strict=True):
        print(f"officer {officer}: device bundle {bundle} (client id and CN officer-{officer}; copy it to the "
              "device, it holds the device's private TLS key)")
    print("reload the broker so it reads the new ACL: systemctl reload mosquitto")
    _report(site)
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    site = Site.load(Path(args.dir))
    site.revoke(args.node)
    site.write_broker()
    site.save()
    print(f"{args.node}: revoked (ACL entry removed, certificate on {site.broker_dir / 'crl.pem'})")
    print("restart the broker so it reads the new CRL: systemctl restart mosquitto")
    _report(site)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    site = Site.load(Path(args.dir))
    for node, entry in sorted(site.nodes.items()):
        state = f"revoked {entry.get('revoked_at', '')}" if entry.get("revoked") else "active"
        print(f"{node:24} {state:28} serial {entry['serial']} issued {entry.get('issued_at', '')}")
    for officer, entry in sorted(site.officers.items()):
        state = f"revoked {entry.get('revoked_at', '')}" if entry.get("revoked") else "active"
        print(f"{'officer-' + officer:24} {state:28} serial {entry['serial']} issued {entry.get('issued_at', '')}")
    return 0


def _guard(func):
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (ProvisionError, OSError, ValueError) as exc:
            print(f"edge-hub provision: {exc}", file=sys.stderr)
            return 2
    return run


def add_provision(sub) -> None:
    p = sub.add_parser("provision", help="CA, broker TLS and config, the hub's login, node bundles")
    psub = p.add_subparsers(dest="provision_command", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", default="/etc/edge-hub", help="the hub's folder (default /etc/edge-hub)")

    q = psub.add_parser("init", parents=[common], help="make or reuse the CA, the broker's files and the hub's login")
    q.add_argument("--host", action="append", metavar="NAME",
                   help="the broker's DNS name or IP as nodes reach it (repeat for more; first is used in bundles)")
    q.add_argument("--node-port", type=int, help="nodes' TLS listener (default 8883)")
    q.add_argument("--hub-port", type=int, help="hub tools' TLS listener (default 8884)")
    q.add_argument("--prefix", help="topic prefix (default edge)")
    q.add_argument("--mosquitto-dir", help="mosquitto's folder (default /etc/mosquitto)")
    q.add_argument("--persistence-dir", help="mosquitto's persistence folder (default /var/lib/mosquitto)")
    q.add_argument("--mosquitto-group", help="group mosquitto runs as (default mosquitto)")
    q.add_argument("--hub-group", help="group the hub's services run as (default edge-hub)")
    q.set_defaults(func=_guard(cmd_init))

    q = psub.add_parser("node", parents=[common], help="issue (or re-issue) a node's certificate and bundle")
    q.add_argument("nodes", nargs="+", metavar="NODE", help="node id(s), as in the profile's [node] id")
    q.add_argument("--hub-pub", help="the command-signing public key to ship (default DIR/hub.pub)")
    q.set_defaults(func=_guard(cmd_node))

    q = psub.add_parser("officer", parents=[common],
                        help="issue (or re-issue) the certificate and bundle of an officer's device")
    q.add_argument("officers", nargs="+", metavar="OFFICER", help="officer id(s), as registered at the hub")
    q.add_argument("--hub-pub", help="the task-signing public key to ship (default DIR/hub.pub)")
    q.set_defaults(func=_guard(cmd_officer))

    q = psub.add_parser("revoke", parents=[common],
                        help="remove a node's (or officer-ID device's) ACL entry and revoke its certificate")
    q.add_argument("node", metavar="NODE|officer-ID")
    q.set_defaults(func=_guard(cmd_revoke))

    q = psub.add_parser("list", parents=[common], help="the nodes and officers' devices issued and revoked")
    q.set_defaults(func=_guard(cmd_list))
