#!/usr/bin/env python3
"""Renders every kustomize overlay and validates it offline.

Three layers, each of which fails the check:

1. Rendering: `kubectl kustomize OVERLAY` must succeed.
2. Schemas: every resource is validated against a JSON schema, strictly
   (unknown fields are errors). Built-in kinds use kubernetes-validate's
   bundled schemas for the oldest supported Kubernetes version (1.30, the
   first with the preStop `sleep` action) and the newest bundled one; custom
   resources use the schemas from crd-schemas.py (KEDA, Prometheus Operator)
   and k8s/schemas/ (hand-written, see its README). A kind without a schema
   is an error, never a warning.
3. Policies: what the manifests must do and a schema cannot express
   (probes, shutdown timing, security context, selectors that select
   something, autoscaler targets, queue names that match the services'
   configuration, who may reach whom).

`--self-test` breaks rendered manifests in known ways and fails unless every
breakage is caught, so a validator that silently accepts everything cannot
pass.

Usage: validate-k8s.py --kubectl PATH --schemas DIR [--self-test] OVERLAY...
"""

import argparse
import copy
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import jsonschema
import referencing
import yaml
from kubernetes_validate import utils as kv

REPO = Path(__file__).resolve().parents[2]
HAND_SCHEMAS = REPO / "k8s/schemas"
SECRETS_DOC = REPO / "k8s/README.md"
MIN_K8S = "1.30"
SERVICES = ("ingest", "query", "forwarder", "aggregator")
PUBLIC = ("ingest", "query")
# The admin panel (Next.js): no ops port; its probes use its own health route.
PANEL = "panel"
PANEL_HEALTH = "/api/health"
EXIT_MARGIN_SECONDS = 5  # time to exit after the grace period (flush logs, close sockets)
K8S_DEFS_URI = "https://kubernetes.io/api/_definitions.json"


# --------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------


def render(kubectl: str, overlay: Path) -> list:
    result = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RenderError(result.stderr.strip() or f"kubectl kustomize exited {result.returncode}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


class RenderError(Exception):
    pass


def name_of(doc) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


# --------------------------------------------------------------------------
# schemas
# --------------------------------------------------------------------------


class Schemas:
    """Strict JSON schemas for built-in kinds (per Kubernetes version) and CRDs."""

    def __init__(self, crd_dirs):
        self.versions = [MIN_K8S, kv.major_minor(kv.latest_version())]
        self.crds = {}
        for directory in crd_dirs:
            for path in sorted(Path(directory).glob("*.json")):
                group, version, kind = path.stem.split("_")
                self.crds[(f"{group}/{version}", kind)] = json.loads(path.read_text())
        # CRD schemas may refer to Kubernetes types (k8s/schemas/README.md).
        definitions = json.loads(
            (Path(kv.__file__).parent / f"kubernetes-json-schema/v{MIN_K8S}.0-local-strict/_definitions.json").read_text()
        )
        self.registry = referencing.Registry().with_resource(
            K8S_DEFS_URI, referencing.Resource.from_contents(definitions, default_specification=referencing.jsonschema.DRAFT202012)
        )
        self._validators = {}
        self._registries = {}

    def errors(self, doc) -> list:
        key = (doc.get("apiVersion"), doc.get("kind"))
        if key in self.crds:
            validator = jsonschema.Draft202012Validator(self.crds[key], registry=self.registry)
            return [f"{name_of(doc)}: {_path(e)}: {e.message}" for e in validator.iter_errors(doc)]
        problems = []
        for version in self.versions:
            validator = self._builtin(version, *key)
            if validator is None:
                return [f"{name_of(doc)}: no schema for {key[0]} {key[1]} (add one, see k8s/schemas/README.md)"]
            for e in validator.iter_errors(doc):
                problems.append(f"{name_of(doc)}: k8s {version}: {_path(e)}: {e.message.splitlines()[0]}")
        return problems

    def _builtin(self, version, api_version, kind):
        """kubernetes-validate's strict schema for a built-in kind, loaded once
        (its own validate() re-reads the large definitions file on every call)."""
        key = (version, api_version, kind)
        if key not in self._validators:
            # Same file naming as kubernetes_validate.utils.validate:
            # rbac.authorization.k8s.io/v1 -> rbac-v1, apps/v1 -> apps-v1, v1 -> v1.
            group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version or "")
            root = Path(kv.__file__).parent / f"kubernetes-json-schema/v{version}.0-local-strict"
            path = root / f"{str(kind).lower()}-{group_version}.json"
            if not path.exists():
                self._validators[key] = None
            else:
                if version not in self._registries:
                    defs = json.loads((root / "_definitions.json").read_text())
                    self._registries[version] = referencing.Resource.from_contents(defs) @ referencing.Registry()
                schema = json.loads(path.read_text())
                registry = referencing.Resource.from_contents(schema) @ self._registries[version]
                self._validators[key] = jsonschema.Draft202012Validator(schema, registry=registry)
        return self._validators[key]

    def describe(self) -> str:
        return f"k8s {' and '.join(self.versions)} strict + {len(self.crds)} CRD kinds"


def _path(error) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(root)"


# --------------------------------------------------------------------------
# policies
# --------------------------------------------------------------------------


def labels_match(selector, labels) -> bool:
    """Kubernetes label-selector semantics (matchLabels and matchExpressions)."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def pod_templates(docs):
    """(workload doc, pod template) for everything that makes pods, including
    the StatefulSet the RabbitMQ Cluster Operator creates from a RabbitmqCluster
    (pods labelled with the operator's documented labels)."""
    for doc in docs:
        kind = doc["kind"]
        if kind in ("Deployment", "StatefulSet", "DaemonSet"):
            yield doc, doc["spec"]["template"]
        elif kind == "Job":
            yield doc, doc["spec"]["template"]
        elif kind == "RabbitmqCluster":
            name = doc["metadata"]["name"]
            labels = {
                "app.kubernetes.io/name": name,
                "app.kubernetes.io/component": "rabbitmq",
                "app.kubernetes.io/part-of": "rabbitmq",
            }
            labels.update({k: v for k, v in (doc["metadata"].get("labels") or {}).items() if not k.startswith("app.kubernetes.io")})
            yield doc, {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "rabbitmq", "ports": [{"name": "amqp", "containerPort": 5672}]}]}, "_operator": True}


def pod_labels(template):
    return template.get("metadata", {}).get("labels") or {}


def ours(doc) -> bool:
    return (doc.get("metadata", {}).get("labels") or {}).get("app.kubernetes.io/part-of") == "analytics"


def component(doc):
    return (doc.get("metadata", {}).get("labels") or {}).get("app.kubernetes.io/component")


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def find(docs, kind, name):
    return next((d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name), None)


def config_value(docs, key):
    config = find(docs, "ConfigMap", "analytics-config")
    return (config or {}).get("data", {}).get(key)


def check_security(docs):
    errors = []
    for doc, template in pod_templates(docs):
        if template.get("_operator"):
            continue
        spec = template["spec"]
        pod_sc = spec.get("securityContext") or {}
        where = name_of(doc)
        if ours(doc) and spec.get("automountServiceAccountToken") is not False:
            errors.append(f"{where}: automountServiceAccountToken must be false (the services never call the API)")
        if (pod_sc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            errors.append(f"{where}: pod seccompProfile must be RuntimeDefault")
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            sc = c.get("securityContext") or {}
            cw = f"{where} container {c['name']}"
            if not (sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True):
                errors.append(f"{cw}: runAsNonRoot must be true")
            if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
                errors.append(f"{cw}: runs as uid 0")
            if sc.get("allowPrivilegeEscalation") is not False:
                errors.append(f"{cw}: allowPrivilegeEscalation must be false")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                errors.append(f"{cw}: capabilities must drop ALL")
            if ours(doc) and sc.get("readOnlyRootFilesystem") is not True:
                errors.append(f"{cw}: readOnlyRootFilesystem must be true")
            res = c.get("resources") or {}
            for kind, keys in (("requests", ("cpu", "memory")), ("limits", ("memory",))):
                for k in keys:
                    if k not in (res.get(kind) or {}):
                        errors.append(f"{cw}: resources.{kind}.{k} missing")
            image = c.get("image", "")
            if ours(doc) and (":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")):
                errors.append(f"{cw}: image {image!r} needs a pinned tag (set by the overlay's images:)")
    return errors


def check_probes_and_shutdown(docs):
    errors = []
    grace = config_value(docs, "ANALYTICS__SHUTDOWN__GRACE_SECONDS")
    if grace is None:
        return ["ConfigMap/analytics-config: ANALYTICS__SHUTDOWN__GRACE_SECONDS missing"]
    for doc in by_kind(docs, "Deployment"):
        if not ours(doc):
            continue
        spec = doc["spec"]["template"]["spec"]
        where = name_of(doc)
        if component(doc) == PANEL:
            for c in spec["containers"]:
                for probe in ("readinessProbe", "livenessProbe"):
                    get = (c.get(probe) or {}).get("httpGet") or {}
                    if get.get("path") != PANEL_HEALTH or get.get("port") != "http":
                        errors.append(f"{where}: {probe} must GET {PANEL_HEALTH} on port http")
            continue
        for c in spec["containers"]:
            ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            port = int(env.get("ANALYTICS__HTTP__PORT") or 0)
            # The ops endpoints: on a port of their own for the public services
            # (ANALYTICS__OPS__PORT), else on the service's only port.
            ops = int(env.get("ANALYTICS__OPS__PORT") or port)
            if component(doc) in PUBLIC and ports.get("http") != port:
                errors.append(f"{where}: container port 'http' ({ports.get('http')}) differs from ANALYTICS__HTTP__PORT ({port})")
            if ports.get("ops") != ops:
                errors.append(f"{where}: container port 'ops' ({ports.get('ops')}) differs from the ops port ({ops})")
            for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
                get = (c.get(probe) or {}).get("httpGet") or {}
                if get.get("path") != path or get.get("port") not in ("ops", ops):
                    errors.append(f"{where}: {probe} must GET {path} on the ops port")
            pre_stop = ((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep", {}).get("seconds", 0)
            if component(doc) in PUBLIC and pre_stop < 1:
                errors.append(f"{where}: needs a preStop sleep so endpoints drop the pod before SIGTERM")
            need = pre_stop + int(env.get("ANALYTICS__SHUTDOWN__GRACE_SECONDS") or grace) + EXIT_MARGIN_SECONDS
            tgps = spec.get("terminationGracePeriodSeconds", 30)
            if tgps < need:
                errors.append(f"{where}: terminationGracePeriodSeconds {tgps} < preStop {pre_stop} + grace {grace} + {EXIT_MARGIN_SECONDS}")
    return errors


def check_references(docs):
    errors = []
    secrets_doc = SECRETS_DOC.read_text() if SECRETS_DOC.exists() else ""
    configmaps = {d["metadata"]["name"] for d in by_kind(docs, "ConfigMap")}
    secret_refs = set()
    for doc, template in pod_templates(docs):
        for c in template["spec"].get("containers", []):
            for source in c.get("envFrom", []):
                ref = source.get("configMapRef")
                if ref and ref["name"] not in configmaps:
                    errors.append(f"{name_of(doc)}: ConfigMap {ref['name']} is not in the overlay")
            for e in c.get("env", []):
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    secret_refs.add((ref["name"], ref["key"]))
    for doc in by_kind(docs, "TriggerAuthentication"):
        for ref in doc["spec"].get("secretTargetRef", []):
            secret_refs.add((ref["name"], ref["key"]))
    for name, key in sorted(secret_refs):
        if f"`{name}`" not in secrets_doc or f"`{key}`" not in secrets_doc:
            errors.append(f"Secret {name} key {key} is used but not documented in k8s/README.md")
    return errors


def check_selectors(docs):
    errors = []
    templates = list(pod_templates(docs))

    def selected(selector):
        return [(d, t) for d, t in templates if labels_match(selector, pod_labels(t))]

    for svc in by_kind(docs, "Service"):
        hits = selected({"matchLabels": svc["spec"].get("selector") or {}}) if svc["spec"].get("selector") else []
        if not hits:
            errors.append(f"{name_of(svc)}: selector matches no pod")
        for port in svc["spec"].get("ports", []):
            target = port.get("targetPort", port["port"])
            for d, t in hits:
                names = {p.get("name") for c in t["spec"]["containers"] for p in c.get("ports", [])}
                numbers = {p["containerPort"] for c in t["spec"]["containers"] for p in c.get("ports", [])}
                if target not in names and target not in numbers:
                    errors.append(f"{name_of(svc)}: targetPort {target} not on {name_of(d)}")
    for pdb in by_kind(docs, "PodDisruptionBudget"):
        if not selected(pdb["spec"]["selector"]):
            errors.append(f"{name_of(pdb)}: selector matches no pod")
    for pol in by_kind(docs, "NetworkPolicy"):
        if pol["spec"]["podSelector"] and not selected(pol["spec"]["podSelector"]):
            errors.append(f"{name_of(pol)}: podSelector matches no pod (a merged or stale selector?)")
    services = by_kind(docs, "Service")
    for sm in by_kind(docs, "ServiceMonitor"):
        picked = [s for s in services if labels_match(sm["spec"]["selector"], s["metadata"].get("labels") or {})]
        got = {component(s) for s in picked}
        for missing in sorted(set(SERVICES) - got):
            errors.append(f"{name_of(sm)}: does not select the {missing} Service")
        for ep in sm["spec"]["endpoints"]:
            for s in picked:
                if ep.get("port") not in {p.get("name") for p in s["spec"]["ports"]}:
                    errors.append(f"{name_of(sm)}: {name_of(s)} has no port named {ep.get('port')}")
    return errors


def check_autoscaling(docs):
    errors = []
    deployments = {d["metadata"]["name"]: d for d in by_kind(docs, "Deployment")}
    scaled = {}
    for hpa in by_kind(docs, "HorizontalPodAutoscaler"):
        scaled.setdefault(hpa["spec"]["scaleTargetRef"]["name"], []).append(name_of(hpa))
    for so in by_kind(docs, "ScaledObject"):
        scaled.setdefault(so["spec"]["scaleTargetRef"]["name"], []).append(name_of(so))
    for target, owners in scaled.items():
        if target not in deployments:
            errors.append(f"{', '.join(owners)}: target Deployment {target} is not in the overlay")
        elif len(owners) > 1:
            errors.append(f"Deployment/{target} is scaled by both {' and '.join(owners)}")
        elif "replicas" in deployments[target]["spec"]:
            errors.append(f"Deployment/{target}: sets replicas although {owners[0]} owns them")
    want = {"ingest": "HorizontalPodAutoscaler", "query": "HorizontalPodAutoscaler", "forwarder": "ScaledObject", "aggregator": "ScaledObject"}
    for comp, kind in want.items():
        if not any(d["kind"] == kind and d["spec"]["scaleTargetRef"]["name"] == f"analytics-{comp}" for d in docs):
            errors.append(f"analytics-{comp} needs a {kind}")
    prefix = config_value(docs, "ANALYTICS__REDIS__KEY_PREFIX")
    namespace = config_value(docs, "ANALYTICS__AMQP__NAMESPACE")
    for so in by_kind(docs, "ScaledObject"):
        for trig in so["spec"]["triggers"]:
            meta = trig.get("metadata", {})
            if trig["type"] == "redis" and meta.get("listName") != f"{prefix}queue":
                errors.append(f"{name_of(so)}: listName {meta.get('listName')!r} is not the queue {prefix}queue")
            if trig["type"] == "rabbitmq" and meta.get("queueName") != f"{namespace}.events.aggregate":
                errors.append(f"{name_of(so)}: queueName {meta.get('queueName')!r} is not {namespace}.events.aggregate")
            ref = (trig.get("authenticationRef") or {}).get("name")
            if ref and not find(docs, "TriggerAuthentication", ref):
                errors.append(f"{name_of(so)}: TriggerAuthentication {ref} is not in the overlay")
    return errors


def check_network(docs):
    """Default deny; open to everyone only ingest and query; stores only from named clients."""
    errors = []
    policies = by_kind(docs, "NetworkPolicy")
    if not any(p["spec"]["podSelector"] == {} and "Ingress" in p["spec"].get("policyTypes", []) and not p["spec"].get("ingress") for p in policies):
        errors.append("no default-deny ingress NetworkPolicy")
    templates = list(pod_templates(docs))
    for pol in policies:
        pods = [(d, t) for d, t in templates if labels_match(pol["spec"]["podSelector"], pod_labels(t))]
        for rule in pol["spec"].get("ingress") or []:
            sources = rule.get("from")
            open_to_all = not sources or any(s.get("ipBlock", {}).get("cidr") in ("0.0.0.0/0", "::/0") or s.get("namespaceSelector") == {} for s in sources)
            if not open_to_all:
                continue
            for d, t in pods:
                if pod_labels(t).get("app.kubernetes.io/component") not in PUBLIC:
                    errors.append(f"{name_of(pol)}: opens {name_of(d)} to every source; only ingest and query may be public")
    for d, t in templates:
        if not ("analytics/store" in pod_labels(t) or t.get("_operator")):
            continue
        if not any(labels_match(p["spec"]["podSelector"], pod_labels(t)) for p in policies if p["spec"]["podSelector"]):
            errors.append(f"{name_of(d)}: store without a NetworkPolicy naming its clients")
    return errors


POLICIES = (check_security, check_probes_and_shutdown, check_references, check_selectors, check_autoscaling, check_network)


def validate_docs(docs, schemas) -> list:
    errors = []
    for doc in docs:
        errors += schemas.errors(doc)
    if errors:
        return errors  # the policies read fields a schema-invalid manifest may lack
    for policy in POLICIES:
        errors += policy(docs)
    return errors


# --------------------------------------------------------------------------
# self-test: every one of these breakages must be reported
# --------------------------------------------------------------------------


def _mutations():
    def edit(kind, name, fn):
        def apply(docs):
            fn(find(docs, kind, name))
            return docs
        return apply

    def container(doc):
        return doc["spec"]["template"]["spec"]["containers"][0]

    def add(docs, doc):
        return docs + [doc]

    return [
        ("Deployment replicas is a string", edit("Deployment", "analytics-ingest", lambda d: d["spec"].update(replicas="two"))),
        ("misspelt container field (strict schema)", edit("Deployment", "analytics-query", lambda d: container(d).update(imagePullPolcy="Always"))),
        ("Service port is a name", edit("Service", "analytics-ingest", lambda d: d["spec"]["ports"][0].update(port="http"))),
        ("ScaledObject without scaleTargetRef", edit("ScaledObject", "analytics-forwarder", lambda d: d["spec"].pop("scaleTargetRef"))),
        ("TriggerAuthentication ref without key", edit("TriggerAuthentication", "analytics-redis", lambda d: d["spec"]["secretTargetRef"][0].pop("key"))),
        ("ServiceMonitor interval not a duration", edit("ServiceMonitor", "analytics", lambda d: d["spec"]["endpoints"][0].update(interval="15 seconds"))),
        ("PrometheusRule rule without expr", edit("PrometheusRule", "analytics", lambda d: d["spec"]["groups"][0]["rules"][0].pop("expr"))),
        ("RabbitmqCluster replicas is a string", edit("RabbitmqCluster", "analytics-rabbitmq", lambda d: d["spec"].update(replicas="3"))),
        ("RabbitmqCluster unknown field", edit("RabbitmqCluster", "analytics-rabbitmq", lambda d: d["spec"].update(replica=3))),
        ("kind without a schema", lambda docs: add(docs, {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})),
        ("no readiness probe", edit("Deployment", "analytics-ingest", lambda d: container(d).pop("readinessProbe"))),
        ("readiness on the public port", edit("Deployment", "analytics-query", lambda d: container(d)["readinessProbe"]["httpGet"].update(port="http"))),
        ("panel probed on a page behind its login", edit("Deployment", "analytics-panel", lambda d: container(d)["livenessProbe"]["httpGet"].update(path="/en"))),
        ("grace period shorter than the shutdown", edit("Deployment", "analytics-aggregator", lambda d: d["spec"]["template"]["spec"].update(terminationGracePeriodSeconds=5))),
        ("root filesystem writable", edit("Deployment", "analytics-forwarder", lambda d: container(d)["securityContext"].update(readOnlyRootFilesystem=False))),
        ("privilege escalation allowed", edit("Job", "analytics-migrate", lambda d: container(d)["securityContext"].update(allowPrivilegeEscalation=True))),
        ("forwarder scales on another list", edit("ScaledObject", "analytics-forwarder", lambda d: d["spec"]["triggers"][0]["metadata"].update(listName="other:queue"))),
        ("HPA and ScaledObject on one Deployment", edit("HorizontalPodAutoscaler", "analytics-query", lambda d: d["spec"]["scaleTargetRef"].update(name="analytics-aggregator"))),
        ("Service selects no pod", edit("Service", "analytics-query", lambda d: d["spec"]["selector"].update({"app.kubernetes.io/name": "analytics-qeury"}))),
        ("NetworkPolicy selector merged with the base's", edit("NetworkPolicy", "analytics-rabbitmq-clients", lambda d: d["spec"]["podSelector"]["matchLabels"].update({"analytics/store": "rabbitmq"}))),
        ("aggregator open to every source", edit("NetworkPolicy", "analytics-metrics-scrape", lambda d: d["spec"]["ingress"][0].pop("from"))),
        ("undocumented Secret", edit("Deployment", "analytics-query", lambda d: container(d)["env"].append({"name": "X", "valueFrom": {"secretKeyRef": {"name": "mystery", "key": "k"}}}))),
    ]


def self_test(kubectl, schemas, overlay) -> list:
    """Returns the breakages that went unnoticed (empty list = pass)."""
    base_docs = render(kubectl, overlay)
    if validate_docs(base_docs, schemas):
        return ["the unbroken overlay must validate before the self-test means anything"]
    missed = []
    for label, mutate in _mutations():
        if not validate_docs(mutate(copy.deepcopy(base_docs)), schemas):
            missed.append(label)
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "kustomization.yaml").write_text("resources:\n  - missing.yaml\n")
        try:
            render(kubectl, Path(tmp))
            missed.append("a kustomization naming a missing file rendered")
        except RenderError:
            pass
    print(f"validate-k8s: self-test: {len(_mutations()) + 1 - len(missed)}/{len(_mutations()) + 1} broken manifests rejected")
    return missed


# --------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubectl", required=True)
    parser.add_argument("--schemas", required=True, help="directory of generated CRD schemas")
    parser.add_argument("--self-test", action="store_true")
    parser.add_argument("overlays", nargs="+", type=Path)
    args = parser.parse_args()
    schemas = Schemas([args.schemas, HAND_SCHEMAS])
    failed = False
    for overlay in args.overlays:
        try:
            docs = render(args.kubectl, overlay)
        except RenderError as e:
            print(f"validate-k8s: {overlay}: kustomize failed:\n{e}", file=sys.stderr)
            failed = True
            continue
        errors = validate_docs(docs, schemas)
        for error in errors:
            print(f"validate-k8s: {overlay}: {error}", file=sys.stderr)
        kinds = len({d['kind'] for d in docs})
        status = "OK" if not errors else f"{len(errors)} error(s)"
        print(f"validate-k8s: {overlay}: {len(docs)} resources of {kinds} kinds ({schemas.describe()}, {len(POLICIES)} policy checks): {status}")
        failed |= bool(errors)
    if args.self_test:
        # The prod overlay has every kind, the RabbitmqCluster included.
        prod = next((o for o in args.overlays if o.name == "prod"), args.overlays[-1])
        missed = self_test(args.kubectl, schemas, prod)
        for label in missed:
            print(f"validate-k8s: self-test: NOT caught: {label}", file=sys.stderr)
        failed |= bool(missed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
