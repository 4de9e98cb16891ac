"""`edge-node provision install BUNDLE`: put a node's provisioning bundle in place.

The bundle (from `edge-hub provision node`) holds the site CA, the node's TLS certificate and key,
the hub's command-signing public key and the broker address. Installed:

- `{tls_dir}/ca.crt`, `{tls_dir}/{node}.crt` 0644 and `{tls_dir}/{node}.key` `root:{owner} 0640`: the
  service user reads its key but cannot replace it;
- `{state_dir}/keys/hub.pub` 0644, the state folder itself owned by the service user (0750);
- the `[link]` section: written into `--profile` (the node ids must agree) or printed to paste.

Re-running is harmless: the same files are written again.
"""

from __future__ import annotations

import argparse
import grp
import json
import os
import pwd
import re
import sys
import tarfile
from pathlib import Path

MEMBERS = ("bundle.json", "ca.crt", "node.crt", "node.key", "hub.pub")


class BundleError(Exception):
    pass


def read_bundle(path: Path) -> dict[str, bytes]:
    try:
        with tarfile.open(path) as tar:
            files = {}
            for member in tar.getmembers():
                name = member.name.rsplit("/", 1)[-1]
                if member.isfile() and name in MEMBERS and member.size < 1 << 20:
                    files[name] = tar.extractfile(member).read()
    except OSError as exc:
        raise BundleError(f"{path}: {exc.strerror}") from None
    except tarfile.TarError:
        raise BundleError(f"{path}: not a provisioning bundle (not a tar file from `edge-hub provision node`)") \
            from None
    missing = [m for m in MEMBERS if m not in files]
    if missing:
        raise BundleError(f"{path}: not a provisioning bundle (missing {', '.join(missing)})")
    return files


def link_section(info: dict, tls_dir: Path) -> str:
    node = info["node"]
    return "\n".join([
        "[link]",
        f'host = "{info["host"]}"',
        f"port = {int(info['port'])}",
        f'prefix = "{info["prefix"]}"',
        "# The broker takes the username and the client id from the certificate's CN (docs/security.md).",
        f'username = "{node}"',
        f'client_id = "{node}"',
        f'tls = {{ ca_file = "{tls_dir / "ca.crt"}", cert_file = "{tls_dir / f"{node}.crt"}", '
        f'key_file = "{tls_dir / f"{node}.key"}" }}',
        ""])


def replace_link(profile_text: str, section: str) -> str:
    """The profile with its `[link]` table (and `[link.*]` sub-tables) replaced by `section`."""
    lines = profile_text.splitlines(keepends=True)
    out: list[str] = []
    skipping = False
    replaced = False
    header = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\-\s]+?)\s*\]\]?")
    for line in lines:
        m = header.match(line)
        if m:
            name = m.group(1)
            in_link = name == "link" or name.startswith("link.")
            if in_link and not replaced:
                out.append(section)
                replaced = True
            skipping = in_link
        if not skipping:
            out.append(line)
    if not replaced:
        if out and not out[-1].endswith("\n"):
            out.append("\n")
        out.append("\n" + section)
    return "".join(out)


def _ids(owner: str) -> tuple[int, int]:
    try:
        user = pwd.getpwnam(owner)
    except KeyError:
        raise BundleError(f"user {owner} does not exist: create it first (useradd --system {owner}) "
                          "or pass --owner") from None
    try:
        gid = grp.getgrnam(owner).gr_gid
    except KeyError:
        gid = user.pw_gid
    return user.pw_uid, gid


def _put(path: Path, data: bytes, mode: int, uid: int, gid: int) -> None:
    from .util import write_atomic

    # Created 0600 and given its owner and final mode before the rename: never readable by others.
    write_atomic(path, data, 0o600, hidden=True, owner=(uid, gid), mkdir=True)
    os.chmod(path, mode)


def install(bundle: Path, state_dir: Path, tls_dir: Path, owner: str, profile: Path | None) -> list[str]:
    files = read_bundle(bundle)
    info = json.loads(files["bundle.json"])
    node = info["node"]
    root = os.geteuid() == 0
    uid, gid = _ids(owner) if root else (os.geteuid(), os.getegid())
    section = link_section(info, tls_dir)
    new_profile = None
    if profile is not None:
        from .config import ConfigError, load_profile

        text = profile.read_text(encoding="utf-8")
        new_profile = replace_link(text, section)
        try:
            loaded = load_profile(profile, text=new_profile, check_files=False)
        except ConfigError as exc:
            raise BundleError(exc.lines()[0]) from None
        if loaded.node.id != node:
            raise BundleError(f"{profile}: [node] id is {loaded.node.id!r} but the bundle is for {node!r}; "
                              f'set id = "{node}" first')
    tls_dir.mkdir(parents=True, exist_ok=True)
    os.chown(tls_dir, 0 if root else uid, gid)
    os.chmod(tls_dir, 0o750)
    key_owner = 0 if root else uid
    _put(tls_dir / "ca.crt", files["ca.crt"], 0o644, key_owner, gid)
    _put(tls_dir / f"{node}.crt", files["node.crt"], 0o644, key_owner, gid)
    _put(tls_dir / f"{node}.key", files["node.key"], 0o640, key_owner, gid)
    state_dir.mkdir(parents=True, exist_ok=True)
    os.chown(state_dir, uid, gid)
    os.chmod(state_dir, 0o750)
    (state_dir / "keys").mkdir(exist_ok=True)
    os.chown(state_dir / "keys", uid, gid)
    os.chmod(state_dir / "keys", 0o700)
    _put(state_dir / "keys" / "hub.pub", files["hub.pub"], 0o644, uid, gid)
    done = [f"{node}: TLS files in {tls_dir}/ (key 0640, readable by {owner})",
            f"{node}: hub public key in {state_dir / 'keys' / 'hub.pub'}"]
    if new_profile is not None:
        st = profile.stat()
        _put(profile, new_profile.encode("utf-8"), st.st_mode & 0o777, st.st_uid, st.st_gid)
        done.append(f"{node}: [link] written into {profile}")
    else:
        done.append("paste this [link] section into the node's profile:\n" + section)
    return done


def cmd_install(args: argparse.Namespace) -> int:
    try:
        for line in install(args.bundle, args.state_dir, args.tls_dir, args.owner, args.profile):
            print(line)
    except (BundleError, OSError) as exc:
        print(f"edge-node provision install: {exc}", file=sys.stderr)
        return 2
    return 0


def add_provision(sub) -> None:
    p = sub.add_parser("provision", help="install the bundle `edge-hub provision node` made for this node")
    psub = p.add_subparsers(dest="provision_command", required=True, metavar="ACTION")
    q = psub.add_parser("install", help="TLS files, the hub's public key and the [link] section")
    q.add_argument("bundle", type=Path, metavar="BUNDLE")
    q.add_argument("--state-dir", type=Path, default=Path("/var/lib/edge-node"),
                   help="the node's state folder (default /var/lib/edge-node)")
    q.add_argument("--tls-dir", type=Path, default=Path("/etc/edge/tls"), help="default /etc/edge/tls")
    q.add_argument("--owner", default="edge", help="the service user (default edge)")
    q.add_argument("--profile", type=Path, help="write the [link] section into this profile")
    q.set_defaults(func=cmd_install)
