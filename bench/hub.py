"""Hub service benchmark against a local mosquitto and PostgreSQL: prints one JSON object.

- ingest_msgs_per_s_sqlite / _postgres: lifecycle messages stored (and receipted) per second by one
  `edge-hub serve` worker, from a backlog published while the worker was stopped (SIGSTOP), from its
  SIGCONT to the last receipt (so neither the publisher's speed nor the start-up is measured);
- scale_ratio_3_workers: the same backlog on PostgreSQL split by a shared subscription over three
  workers resumed together, rate / one worker's rate (bounded by the machine's cores: three workers,
  mosquitto and PostgreSQL on two cores cannot reach 3x);
- cpu_us_per_msg_* (extra): CPU time per stored message of the worker(s), the PostgreSQL server and
  mosquitto during the drain: the cost the rates come from, much less sensitive to other load;
- publish_to_sse_p50_ms / p99_ms: from a node's publish to the event on the API's SSE stream;
- incident_list_p99_ms: GET /api/incidents (a page of 50) with 10,000 incidents in the store;
- peak_rss_mb: the largest peak resident memory of one worker in these runs;
- store_only_msgs_per_s_postgres (extra): the ingest transactions alone, without MQTT, in-process;
  cpu_cores and load_avg_1m (extra): what the figures were measured on.

Usage: python bench/hub.py [--messages 20000] [--sse-samples 300] [--incidents 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import paho.mqtt.client as mqtt  # noqa: E402

from simulator.broker import Broker, free_port  # noqa: E402
from tests.hub_rig import lifecycle, write_config  # noqa: E402
from tests.postgres import PostgresServer  # noqa: E402

NODES = 20


class Receipts:
    def __init__(self, broker: Broker, prefix: str):
        self.items = 0
        self.first: float | None = None
        self.first_items = 0
        self.last = 0.0
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{prefix}-receipts",
                                  protocol=mqtt.MQTTv5)
        self.client.on_message = self._on
        self.client.connect("127.0.0.1", broker.port)
        self.client.subscribe(f"{prefix}/+/receipt", qos=1)
        self.client.loop_start()

    def _on(self, c, u, m):
        n = len(json.loads(m.payload)["items"])
        with self.lock:
            now = time.monotonic()
            if self.first is None:
                self.first, self.first_items = now, n
            self.items += n
            self.last = now

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def publisher(broker: Broker, cid: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(1000)
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    return c


def spawn(config: Path, cid: str, log: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edge.cli.hub", "serve", "--config", str(config), "--client-id",
                             cid, *extra], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.DEVNULL, stderr=open(log, "w"))  # noqa: SIM115


def wait_log(log: Path, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{log}: no {text!r}: {log.read_text()[-500:]}")
        time.sleep(0.05)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and of its children that have exited."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_s() -> float:
    """CPU seconds of every PostgreSQL process (the server is this bench's own)."""
    total = 0.0
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if (p / "comm").read_text().strip() == "postgres":
                    total += cpu_s(int(p.name))
            except (OSError, ValueError):
                pass
    return total


def ingest_rate(broker: Broker, folder: Path, url: str, workers: int, n: int, tag: str) -> dict:
    """Rate, CPU per message and peak RSS of `workers` workers draining a backlog of `n` messages.

    The workers start, subscribe and are then stopped (SIGSTOP) while the backlog is published, so
    that they all start on it at the same instant, warm (SIGCONT): neither the publisher's speed nor
    the workers' start-up is measured.  The rate is n / (time from SIGCONT to the last receipt)."""
    prefix = f"b{tag}{workers}"
    config = write_config(folder / prefix, url=url, broker_port=broker.port, prefix=prefix, group=prefix)
    logs = [folder / f"{prefix}-w{i}.log" for i in range(workers)]
    procs = [spawn(config, f"{prefix}-w{i}", logs[i], "--no-api", "--no-evidence") for i in range(workers)]
    try:
        for log in logs:
            wait_log(log, "serving")
        receipts = Receipts(broker, prefix)
        time.sleep(0.3)
        for p in procs:
            p.send_signal(signal.SIGSTOP)
        pub = publisher(broker, f"{prefix}-pub")
        infos = []
        for i in range(n):
            node = f"n{i % NODES}"
            m = lifecycle(f"v{i:07d}", "alert", node=node, zone=f"z{(i // NODES) % 50}")
            infos.append(pub.publish(f"{prefix}/{node}/alert", json.dumps(m), qos=1))
        for info in infos:
            info.wait_for_publish(60)
        pub.loop_stop()
        pub.disconnect()
        cpu0 = [cpu_s(p.pid) for p in procs]
        pg0, mq0 = postgres_cpu_s(), cpu_s(broker.proc.pid)
        started = time.monotonic()
        for p in procs:
            p.send_signal(signal.SIGCONT)
        deadline = started + 600
        rss = 0.0
        while receipts.items < n and time.monotonic() < deadline:
            time.sleep(0.02)
            rss = max(rss, peak_rss_mb(procs[0].pid))
        cpu1 = [cpu_s(p.pid) for p in procs]
        pg1, mq1 = postgres_cpu_s(), cpu_s(broker.proc.pid)
        receipts.close()
        if receipts.items < n:
            raise RuntimeError(f"only {receipts.items} of {n} receipted")
        worker_us = sum(b - a for a, b in zip(cpu0, cpu1, strict=True)) / n * 1e6
        return {"rate": n / max(1e-6, receipts.last - started), "rss": rss, "worker_cpu_us": worker_us,
                "postgres_cpu_us": (pg1 - pg0) / n * 1e6, "broker_cpu_us": (mq1 - mq0) / n * 1e6}
    finally:
        for p in procs:
            p.send_signal(signal.SIGCONT)
            p.send_signal(signal.SIGTERM)
            p.wait(30)


def store_rate(folder: Path, url: str, n: int) -> float:
    """Messages per second through the ingest transaction alone (parse, store, incidents), in this
    process: the share of a worker's time the store takes, without MQTT."""
    from edge.hub.service.config import load_config
    from edge.hub.service.db import Database
    from edge.hub.service.ingest import Ingest
    from edge.hub.service.mqtt import Inbound

    config = load_config(write_config(folder / "store", url=url))
    db = Database(config.store_url)
    db.migrate()
    ingest = Ingest(db, config, lambda topic, payload: None)
    items = [Inbound(f"edge/n{i % NODES}/alert", json.dumps(lifecycle(f"v{i:07d}", "alert", node=f"n{i % NODES}",
                                                                      zone=f"z{(i // NODES) % 50}")).encode(),
                     i + 1, 1, 0.0) for i in range(n)]
    started = time.perf_counter()
    for k in range(0, n, config.store.batch):
        ingest.handle(items[k:k + config.store.batch])
    elapsed = time.perf_counter() - started
    db.close()
    return n / elapsed


def api_figures(broker: Broker, folder: Path, samples: int, incidents: int) -> dict:
    import httpx

    from edge.hub.service import auth
    from edge.hub.service.db import Database

    prefix = "bapi"
    port = free_port()
    config = write_config(folder / prefix, url=str(folder / prefix / "hub.db"), broker_port=broker.port,
                          api_port=port, prefix=prefix, group=prefix)
    db = Database(str(folder / prefix / "hub.db"))
    db.migrate()
    auth.add_user(db, "bench", "bench-password", "viewer")
    db.close()
    log = folder / "api.log"
    proc = spawn(config, f"{prefix}-hub", log)
    try:
        wait_log(log, "serving")
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        client.post("/api/login", json={"username": "bench", "password": "bench-password"}).raise_for_status()
        seen: dict[str, float] = {}
        ready = threading.Event()

        def listen():
            try:
                with httpx.Client(base_url=client.base_url, cookies=client.cookies, timeout=None) as c, \
                        c.stream("GET", "/api/events") as r:
                    ready.set()
                    for line in r.iter_lines():
                        if line.startswith("data: "):
                            v = json.loads(line[6:]).get("violation")
                            if v:
                                seen.setdefault(v, time.monotonic())
            except httpx.HTTPError:
                pass  # the server stopped at the end

        threading.Thread(target=listen, daemon=True).start()
        ready.wait(10)
        time.sleep(0.5)
        pub = publisher(broker, f"{prefix}-pub")
        sent: dict[str, float] = {}
        for i in range(samples):
            vid = f"sse{i:05d}"
            sent[vid] = time.monotonic()
            pub.publish(f"{prefix}/n1/alert", json.dumps(lifecycle(vid, "alert", zone=f"s{i}")), qos=1)
            time.sleep(0.05)
        deadline = time.monotonic() + 30
        while len(seen) < samples and time.monotonic() < deadline:
            time.sleep(0.05)
        lat = sorted((seen[v] - t) * 1000 for v, t in sent.items() if v in seen)
        # 10,000 incidents (distinct zones: one incident each), then the list's latency.
        infos = [pub.publish(f"{prefix}/n{i % NODES}/alert",
                             json.dumps(lifecycle(f"inc{i:06d}", "alert", node=f"n{i % NODES}", zone=f"q{i}")), qos=1)
                 for i in range(incidents - samples)]
        for info in infos:
            info.wait_for_publish(60)
        deadline = time.monotonic() + 300
        while client.get("/api/incidents", params={"limit": 1}).json()["total"] < incidents:
            if time.monotonic() > deadline:
                raise RuntimeError("the incidents did not all arrive")
            time.sleep(0.5)
        times = []
        for i in range(300):
            params = {"limit": 50} if i % 2 == 0 else {"limit": 50, "state": "new", "node": "n3"}
            t0 = time.perf_counter()
            r = client.get("/api/incidents", params=params)
            times.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
        times.sort()
        pub.loop_stop()
        pub.disconnect()
        return {"publish_to_sse_p50_ms": round(lat[len(lat) // 2], 1) if lat else None,
                "publish_to_sse_p99_ms": round(lat[int(len(lat) * 0.99) - 1], 1) if lat else None,
                "sse_events_missed": samples - len(lat),
                "incident_list_p99_ms": round(times[int(len(times) * 0.99) - 1], 1),
                "incident_list_p50_ms": round(times[len(times) // 2], 1),
                "api_worker_peak_rss_mb": round(peak_rss_mb(proc.pid), 1)}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--sse-samples", type=int, default=300)
    parser.add_argument("--incidents", type=int, default=10000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-hub-"))
    broker = Broker(folder / "broker").start()
    pg = PostgresServer().start()
    try:
        sqlite = ingest_rate(broker, folder, str(folder / "ingest.db"), 1, args.messages, "s")
        pg1 = ingest_rate(broker, folder, pg.create_db("ingest1"), 1, args.messages, "p")
        pg3 = ingest_rate(broker, folder, pg.create_db("ingest3"), 3, args.messages, "p")
        out = {"ingest_msgs_per_s_sqlite": round(sqlite["rate"]), "ingest_msgs_per_s_postgres": round(pg1["rate"]),
               "ingest_msgs_per_s_postgres_3_workers": round(pg3["rate"]),
               "scale_ratio_3_workers": round(pg3["rate"] / pg1["rate"], 2),
               # CPU per message stored: what the rates are made of, and far less sensitive than they are
               # to what else runs on the machine.
               "cpu_us_per_msg_worker_sqlite": round(sqlite["worker_cpu_us"]),
               "cpu_us_per_msg_worker_postgres": round(pg1["worker_cpu_us"]),
               "cpu_us_per_msg_postgres_server": round(pg1["postgres_cpu_us"]),
               "cpu_us_per_msg_broker": round(pg1["broker_cpu_us"]),
               "cpu_us_per_msg_3_workers_total": round(pg3["worker_cpu_us"] + pg3["postgres_cpu_us"]
                                                       + pg3["broker_cpu_us"])}
        out["store_only_msgs_per_s_postgres"] = round(store_rate(folder, pg.create_db("store"), args.messages // 2))
        api = api_figures(broker, folder, args.sse_samples, args.incidents)
        out.update(api)
        out["peak_rss_mb"] = round(max(sqlite["rss"], pg1["rss"], pg3["rss"], api["api_worker_peak_rss_mb"]), 1)
        out["cpu_cores"] = os.cpu_count()
        out["load_avg_1m"] = round(os.getloadavg()[0], 1)
        print(json.dumps(out))
    finally:
        pg.stop()
        broker.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
