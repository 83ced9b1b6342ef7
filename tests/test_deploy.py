"""Deployment files: the Grafana dashboard and Prometheus alert rules are generated from (and only name)
metrics the code exposes; Kubernetes manifests validate against the bundled Kubernetes JSON schemas;
the Dockerfile, docker-compose file and CI workflow parse and say what they must. (No Docker engine
here: nothing is built or started.)"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml

from adapters.config import Settings
from adapters.telemetry.dashboards import referenced_metrics, render
from adapters.telemetry.metrics import all_metric_names

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S_VERSION = "1.30.0"


def test_generated_files_are_up_to_date():
    for rel, content in render().items():
        assert (DEPLOY / rel).read_text() == content, (
            f"deploy/{rel} is stale: python -m adapters.telemetry.dashboards deploy/"
        )


def test_every_metric_named_in_deploy_exists_in_code():
    known = all_metric_names()
    files = [DEPLOY / "grafana" / "dashboard.json", DEPLOY / "prometheus" / "alerts.yml",
             DEPLOY / "prometheus" / "prometheus.yml"]  # fmt: skip
    seen: set[str] = set()
    for path in files:
        names = referenced_metrics(path.read_text())
        assert names <= known, f"{path.name}: unknown metrics {sorted(names - known)}"
        seen |= names
    # The headline metrics are on the dashboard and alerted on.
    headline = ("parity_risk_trading_state_code", "parity_drawdown", "parity_tick_to_order_latency_seconds_bucket",
                "parity_adapter_connected", "parity_data_staleness_seconds", "parity_order_rejects_total")  # fmt: skip
    for name in headline:
        assert name in seen


def test_dashboard_and_rules_are_well_formed():
    dash = json.loads((DEPLOY / "grafana" / "dashboard.json").read_text())
    assert dash["uid"] == "parity-run" and len({p["id"] for p in dash["panels"]}) == len(dash["panels"])
    assert all(t["expr"] for p in dash["panels"] for t in p["targets"])
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    alerts = rules["groups"][0]["rules"]
    assert {"ParityTradingHalted", "ParityRejectRateHigh", "ParityAdapterDisconnected", "ParityDataStale",
            "ParityLatencySLO"} <= {a["alert"] for a in alerts}  # fmt: skip
    for a in alerts:
        assert a["labels"]["severity"] in ("warning", "critical") and re.fullmatch(r"\d+[smh]", a["for"])
        assert a["expr"].count("(") == a["expr"].count(")")


def k8s_docs():
    docs = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") != "Kustomization":
                docs.append(pytest.param(doc, id=f"{path.name}:{doc['kind']}"))
    return docs


@pytest.mark.parametrize("doc", k8s_docs())
def test_kubernetes_manifest_validates(doc):
    import kubernetes_validate

    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_kubernetes_validation_catches_mistakes_and_the_deployment_has_what_it_must():
    import kubernetes_validate

    dep = yaml.safe_load((DEPLOY / "k8s" / "deployment.yaml").read_text())
    bad = copy.deepcopy(dep)
    bad["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGett"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz" and c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["resources"]["limits"] and c["resources"]["requests"]
    assert dep["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    secret_refs = {e["valueFrom"]["secretKeyRef"]["key"] for e in c["env"] if "valueFrom" in e}
    assert secret_refs == {"store-url", "smtp-password", "webhook-url"}
    assert {"configMapRef": {"name": "parity-config"}} in c["envFrom"]
    kustom = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    assert "secret.example.yaml" not in kustom["resources"]
    assert all((DEPLOY / "k8s" / r).exists() for r in kustom["resources"])


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck():
    ins = dockerfile_instructions((DEPLOY / "Dockerfile").read_text())
    known = {"FROM", "RUN", "COPY", "ENV", "WORKDIR", "USER", "EXPOSE", "HEALTHCHECK", "ENTRYPOINT", "CMD", "ARG"}
    assert {w for w, _ in ins} <= known
    froms = [rest for w, rest in ins if w == "FROM"]
    assert len(froms) >= 2 and " AS " in froms[0].upper()
    final = ins[max(i for i, (w, _) in enumerate(ins) if w == "FROM") :]
    users = [rest for w, rest in final if w == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any(w == "COPY" and rest.startswith("--from=builder") for w, rest in final)
    (health,) = [rest for w, rest in final if w == "HEALTHCHECK"]
    assert "/healthz" in health and "CMD" in health
    assert ("EXPOSE", "9108") in final
    entry = json.loads(next(rest for w, rest in final if w == "ENTRYPOINT"))
    assert entry == ["parity"]
    # Every COPY source of the build stage exists in the repository.
    for w, rest in ins:
        if w == "COPY" and not rest.startswith("--from"):
            for src in rest.split()[:-1]:
                assert (ROOT / src).exists(), src


def test_compose_wires_parity_postgres_prometheus_and_grafana():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "migrate", "parity-replay", "parity-live", "prometheus", "grafana"} <= set(services)
    replay = services["parity-replay"]
    assert replay["build"]["dockerfile"] == "deploy/Dockerfile" and "--metrics-port" in replay["command"]
    assert replay["environment"]["PARITY_STORE_URL"].startswith("postgresql+psycopg://")
    assert "${POSTGRES_PASSWORD" in replay["environment"]["PARITY_STORE_URL"]  # no password in the file
    assert services["parity-live"]["profiles"] == ["live"]
    assert services["postgres"]["image"].startswith("postgres:15") and services["postgres"]["healthcheck"]
    graf = services["grafana"]["volumes"]
    assert any(v.startswith("./grafana/dashboard.json:") for v in graf)
    assert any(v.startswith("./grafana/provisioning:") for v in graf)
    prom = services["prometheus"]["volumes"]
    assert any(v.startswith("./prometheus/alerts.yml:") for v in prom)
    for volume in graf + prom:
        assert (DEPLOY / volume.split(":")[0]).exists(), volume
    prom_cfg = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {t for job in prom_cfg["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    assert targets == {"parity-replay:9108", "parity-live:9108"}
    assert prom_cfg["rule_files"] == ["/etc/prometheus/alerts.yml"]
    ds = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    dash = json.loads((DEPLOY / "grafana" / "dashboard.json").read_text())
    assert ds["datasources"][0]["uid"] == dash["panels"][0]["datasource"]["uid"]


def test_ci_workflow_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    command = next(line for line in readme.splitlines() if "pytest" in line and line.startswith("pip install"))
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    runs = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    assert command in [r.strip() for r in runs]
    assert command in (ROOT / ".ci" / "run").read_text()


def test_env_example_names_only_real_settings():
    names = set()
    for line in (ROOT / ".env.example").read_text().splitlines():
        m = re.match(r"#?\s*(PARITY_[A-Z0-9_]+)=", line)
        if m:
            names.add(m.group(1)[len("PARITY_") :].lower())
    assert names and names <= set(Settings.model_fields)
    secrets = {"smtp_password", "webhook_url", "store_url"}
    assert secrets <= names
