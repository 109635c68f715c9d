#!/usr/bin/env python3
"""Writes strict JSON schemas for the custom resource kinds k8s/ uses.

The source is the cloudcoil model packages (PyPI), which are generated from
the upstream CRDs' openAPIV3Schema (KEDA 2.16, Prometheus Operator 0.80), so
field names, types, enums, patterns and required fields are the CRDs' own.
Pydantic hands them back as JSON Schema; two changes make that schema a
faithful validator:

- `anyOf: [X, {"type": "null"}]` (how pydantic spells "optional") becomes X:
  a manifest never needs an explicit null, and the API server would not
  accept one for most of these fields;
- every object that lists its properties gets `additionalProperties: false`,
  like kubeconform's strict mode: a misspelt field is an error instead of
  being silently pruned by the API server.

Usage: crd-schemas.py OUT_DIR  ->  OUT_DIR/<group>_<version>_<kind>.json
"""

import json
import sys
from pathlib import Path

from cloudcoil.models.keda import v1alpha1 as keda
from cloudcoil.models.prometheus_operator import v1 as monitoring

KINDS = [
    ("keda.sh", "v1alpha1", keda.ScaledObject),
    ("keda.sh", "v1alpha1", keda.TriggerAuthentication),
    ("monitoring.coreos.com", "v1", monitoring.ServiceMonitor),
    ("monitoring.coreos.com", "v1", monitoring.PrometheusRule),
]

NULL = {"type": "null"}


def strict(node):
    """The pydantic schema with optional-null removed and objects closed."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "anyOf" in node and NULL in node["anyOf"]:
        options = [o for o in node.pop("anyOf") if o != NULL]
        if len(options) == 1:
            node = {**node, **options[0]}
        else:
            node["anyOf"] = options
    node.pop("default", None)  # defaults never make a manifest invalid
    out = {key: strict(value) for key, value in node.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def main(out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for group, version, model in KINDS:
        schema = strict(model.model_json_schema(by_alias=True, mode="validation"))
        # apiVersion and kind are Literal in the models: they must match.
        schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata"})
        path = out / f"{group}_{version}_{model.__name__}.json"
        path.write_text(json.dumps(schema, indent=1, sort_keys=True))
        print(f"crd-schemas: {path.name}")


if __name__ == "__main__":
    main(sys.argv[1])
