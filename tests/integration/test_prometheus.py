"""Prometheus files proven against the real processes: promtool validates the config and the rules, every
metric the rules use is exported by a running process, and a real Prometheus (Debian's) scrapes every
process with all targets up and every rule group loaded."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from deploy.local.pipeline import Pipeline
from deploy.local.process import ManagedProcess, wait_until
from tests.support.harness import ingest_token, pipeline_env
from tests.support.ingest_server import free_port
from tests.support.kafka import delete_topics

pytestmark = pytest.mark.integration
PROM = Path(__file__).parents[2] / "deploy" / "prometheus"
RULES = sorted((PROM / "rules").glob("*.yml"))


def test_promtool_validates_the_config_and_the_rules():
    for args in (["check", "config", str(PROM / "prometheus.yml")], ["check", "rules", *map(str, RULES)]):
        res = subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr


def _exported(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\w+)", line)
        if m:
            name, kind = m.groups()
            names |= {name, f"{name}_bucket", f"{name}_count", f"{name}_sum"} if kind == "histogram" else {name}
    return names


def _rule_metrics() -> set[str]:
    used = set()
    for f in RULES:
        for group in yaml.safe_load(f.read_text())["groups"]:
            for rule in group["rules"]:
                used |= set(re.findall(r"\b(stir_[a-z0-9_]+)", rule["expr"]))
    return used


def test_rules_use_exported_metrics_and_a_real_prometheus_scrapes_every_process(stack, fresh_db, uid, tmp_path):
    prefix = f"pm{uid}."
    env = pipeline_env(prefix, tmp_path / "state", fresh_db)
    ingest_token(env)
    ports = {"ingest": env["STIR_INGEST_PORT"], "worker": env["STIR_STREAMS_METRICS_PORT"],
             "warehouse": env["STIR_CH_METRICS_PORT"], "loader": env["STIR_LOADER_METRICS_PORT"],
             "prom": str(free_port())}  # fmt: skip
    pipeline = Pipeline(tmp_path / "run", env)
    prom = ManagedProcess("prometheus", tmp_path / "prometheus.pid", tmp_path / "prometheus.log")
    try:
        pipeline.up()
        targets = {"stir-ingest": ports["ingest"], "stir-worker": ports["worker"],
                   "stir-warehouse": ports["warehouse"], "stir-loader": ports["loader"]}  # fmt: skip
        exported: set[str] = set()
        for job, port in targets.items():

            def serving(url: str = f"http://127.0.0.1:{port}/metrics") -> bool:
                try:
                    return httpx.get(url, timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            assert wait_until(serving, 60, 0.2), f"{job} serves no /metrics"
            exported |= _exported(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text)
        used = _rule_metrics()
        assert len(used) >= 10
        assert used <= exported, f"rules use metrics no process exports: {sorted(used - exported)}"
        # the Grafana dashboards' PromQL: recorded series from the rules, raw series from the processes
        recorded = {r["record"] for f in RULES for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"]
                    if "record" in r}  # fmt: skip
        for f in sorted((PROM.parent / "grafana" / "dashboards").glob("*.json")):
            for p in json.loads(f.read_text())["panels"]:
                for t in p["targets"]:
                    if "expr" in t:
                        assert set(re.findall(r"\b(stir:[a-z0-9_:]+)", t["expr"])) <= recorded, (f.name, t["expr"])
                        assert set(re.findall(r"\b(stir_[a-z0-9_]+)", t["expr"])) <= exported, (f.name, t["expr"])

        config = yaml.safe_load((PROM / "prometheus.yml").read_text())
        config["rule_files"] = [str(f) for f in RULES]
        for sc in config["scrape_configs"]:
            sc["static_configs"] = [{"targets": [f"127.0.0.1:{targets[sc['job_name']]}"]}]
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))  # the same file, this test's ports
        config_file, tsdb = tmp_path / "prometheus.yml", tmp_path / "tsdb"
        prom.start(["prometheus", f"--config.file={config_file}", f"--storage.tsdb.path={tsdb}",
                    f"--web.listen-address=127.0.0.1:{ports['prom']}"])  # fmt: skip
        api = f"http://127.0.0.1:{ports['prom']}/api/v1"

        def all_up() -> bool:
            try:
                got = httpx.get(f"{api}/targets", timeout=5).json()["data"]["activeTargets"]
            except httpx.HTTPError:
                return False
            return len(got) == len(targets) and all(t["health"] == "up" for t in got)

        assert wait_until(all_up, 60, 0.5), httpx.get(f"{api}/targets", timeout=5).text[-2000:]
        groups = httpx.get(f"{api}/rules", timeout=5).json()["data"]["groups"]
        assert {g["name"] for g in groups} == {"stir-recording", "stir-alerts"}

        def evaluated() -> bool:
            rules = [r for g in httpx.get(f"{api}/rules", timeout=5).json()["data"]["groups"] for r in g["rules"]]
            return all(r.get("health") == "ok" for r in rules)

        assert wait_until(evaluated, 60, 0.5), httpx.get(f"{api}/rules", timeout=5).text[-2000:]
        up = httpx.get(f"{api}/query", params={"query": 'sum(up{job=~"stir-.*"})'}, timeout=5).json()
        assert up["data"]["result"][0]["value"][1] == "4"
    finally:
        prom.stop()
        pipeline.down()
        from streams.app import topics
        from streams.settings import StreamsSettings

        delete_topics(stack.bootstrap, topics(StreamsSettings(topic_prefix=prefix)))


def test_an_alert_reaches_a_webhook_through_a_real_alertmanager(stack, tmp_path, uid):
    """Stop a component: Prometheus (the real rules file) fires StirTargetDown and Alertmanager (the config
    ``stir alerts config`` writes) posts it to the webhook. The rule's ``for`` is shortened in this test's copy
    (2 min in the file): what is under test is the route from the rule to the receiver."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from deploy.local.alerts import alertmanager_config
    from tests.support.ingest_server import ingest_server

    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            return

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    am_port, prom_port = free_port(), free_port()
    am_file = tmp_path / "alertmanager.yml"
    am_file.write_text(alertmanager_config(f"http://127.0.0.1:{hook.server_address[1]}/alerts"))
    check = subprocess.run(["amtool", "check-config", str(am_file)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    am = ManagedProcess("alertmanager", tmp_path / "am.pid", tmp_path / "am.log")
    prom = ManagedProcess("prometheus", tmp_path / "prometheus.pid", tmp_path / "prometheus.log")
    prefix = f"al{uid}."
    try:
        am.start(["prometheus-alertmanager", f"--config.file={am_file}", f"--storage.path={tmp_path / 'am'}",
                  f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="])  # fmt: skip
        with ingest_server(tmp_path, prefix) as srv:
            rules = yaml.safe_load((PROM / "rules" / "stir_alerts.yml").read_text())
            for group in rules["groups"]:
                for rule in group["rules"]:
                    if rule.get("alert") == "StirTargetDown":
                        rule["for"] = "5s"
            (tmp_path / "alerts.yml").write_text(yaml.safe_dump(rules))
            config = yaml.safe_load((PROM / "prometheus.yml").read_text())
            config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
            config["rule_files"] = [str(tmp_path / "alerts.yml")]
            config["alerting"]["alertmanagers"][0]["static_configs"] = [{"targets": [f"127.0.0.1:{am_port}"]}]
            target = srv.url.removeprefix("http://")
            config["scrape_configs"] = [{"job_name": "stir-ingest", "static_configs": [{"targets": [target]}]}]
            (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
            prom.start(
                [
                    "prometheus",
                    f"--config.file={tmp_path / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ]
            )
            api = f"http://127.0.0.1:{prom_port}/api/v1"

            def scraped() -> bool:
                try:
                    got = httpx.get(f"{api}/targets", timeout=5).json()["data"]["activeTargets"]
                except httpx.HTTPError:
                    return False
                return [t["health"] for t in got] == ["up"]

            assert wait_until(scraped, 60, 0.5), prom.log_file.read_text()[-2000:]
        # the ingest API is stopped now: the target goes down, the alert fires and is delivered

        def delivered() -> bool:
            return any(a["labels"].get("alertname") == "StirTargetDown" and a["labels"].get("job") == "stir-ingest"
                       and a["status"] == "firing" for msg in received for a in msg["alerts"])  # fmt: skip

        assert wait_until(delivered, 120, 0.5), (received, am.log_file.read_text()[-2000:])
    finally:
        prom.stop()
        am.stop()
        hook.shutdown()
        delete_topics(stack.bootstrap, [prefix + t for t in ("dlq.ingest",)])
