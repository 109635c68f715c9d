#!/usr/bin/env python3
"""What the alert rules and the Grafana dashboard ask of the services' metrics.

  promql.py used
      Metric names used by deploy/prometheus/rules.yml and
      deploy/grafana/analytics.json, one per line with where they are used.
  promql.py lint-dashboard OUT_RULES_FILE
      Structural checks of the dashboard (unique panel ids, a datasource and
      at least one query per panel, every template variable defined), then
      writes its queries as recording rules so that `promtool check rules`
      can parse every panel's PromQL.
  promql.py check METRICS_FILE...
      Fails unless every used name appears in one of the scraped /metrics
      files (Prometheus text format). `up` is made by Prometheus itself; the
      scrape test checks it against a live Prometheus instead.

Names are found by stripping from each expression what is not a metric name:
strings, label matchers {...}, ranges [...], grouping clauses by/without/on/
ignoring/group_left/group_right (...), function and aggregation names (an
identifier followed by "("), keywords and numbers.
"""

import json
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy/prometheus/rules.yml"
DASHBOARD = REPO / "deploy/grafana/analytics.json"

# Series Prometheus adds itself; not expected on any /metrics page.
SYNTHETIC = {"up"}
KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "and", "or", "unless", "offset", "start", "end", "inf", "nan",
}
GRAFANA_VARS = re.compile(r"\$(__rate_interval|__interval|__range)\b|\$\{__(rate_interval|interval|range)\}")
GRAFANA_USER_VAR = re.compile(r"\$\{?\w+\}?")
IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def grafana_to_promql(expr: str) -> str:
    """Dashboard queries with Grafana's variables replaced by plain values."""
    expr = GRAFANA_VARS.sub("5m", expr)
    return GRAFANA_USER_VAR.sub(".*", expr)


def metric_names(expr: str) -> set:
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    s = re.sub(r"\{[^{}]*\}", " ", s)
    s = re.sub(r"\[[^\[\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", s)
    names = set()
    for match in IDENT.finditer(s):
        word = match.group(0)
        rest = s[match.end():].lstrip()
        if word.lower() in KEYWORDS or rest.startswith("("):
            continue
        # A number like 1e3 or a duration like 5m starts with a digit, so
        # IDENT never matches it from its start; skip the tails it leaves.
        if match.start() > 0 and (s[match.start() - 1].isdigit() or s[match.start() - 1] == "."):
            continue
        names.add(word)
    return names


def rule_exprs():
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            yield f"rule {rule.get('alert') or rule.get('record')}", rule["expr"]


def dashboard():
    return json.loads(DASHBOARD.read_text())


def panels(dash):
    for panel in dash["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_exprs(dash=None):
    for panel in panels(dash or dashboard()):
        for target in panel.get("targets", []):
            if target.get("expr"):
                yield f"panel {panel['title']!r}", grafana_to_promql(target["expr"])


def used_names() -> dict:
    used = {}
    for where, expr in list(rule_exprs()) + list(dashboard_exprs()):
        for name in metric_names(expr):
            used.setdefault(name, []).append(where)
    return used


def exposed_names(text: str) -> set:
    """Families (# TYPE) and sample names; histogram samples carry
    _bucket/_sum/_count, so both spellings of a histogram count as present."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


def cmd_used(_args) -> int:
    for name, where in sorted(used_names().items()):
        print(f"{name}\t{', '.join(sorted(set(where)))}")
    return 0


def cmd_check(files) -> int:
    exposed = set()
    for path in files:
        exposed |= exposed_names(Path(path).read_text())
    used = used_names()
    missing = {n: w for n, w in used.items() if n not in exposed and n not in SYNTHETIC}
    for name, where in sorted(missing.items()):
        print(f"promql: {name} is used by {', '.join(sorted(set(where)))} but no service exposes it", file=sys.stderr)
    print(f"promql: {len(used) - len(missing)}/{len(used)} metric names used by rules and dashboard are exposed "
          f"({len(SYNTHETIC & set(used))} made by Prometheus)")
    return 1 if missing else 0


def cmd_lint_dashboard(args) -> int:
    (out,) = args
    dash = dashboard()
    errors = []
    ids = [p.get("id") for p in panels(dash)]
    if len(ids) != len(set(ids)) or None in ids:
        errors.append(f"panel ids must be unique and present: {ids}")
    variables = {v["name"] for v in dash.get("templating", {}).get("list", [])}
    for panel in panels(dash):
        if panel.get("type") == "row":
            continue
        title = panel.get("title") or f"id {panel.get('id')}"
        if not panel.get("targets"):
            errors.append(f"panel {title!r} has no query")
        if not panel.get("datasource"):
            errors.append(f"panel {title!r} has no datasource")
        grid = panel.get("gridPos") or {}
        if not all(k in grid for k in "xywh") or grid.get("x", 0) + grid.get("w", 0) > 24:
            errors.append(f"panel {title!r} has a bad gridPos {grid}")
        for target in panel.get("targets", []):
            for var in re.findall(r"\$\{?(\w+)\}?", target.get("expr", "")):
                if not var.startswith("__") and var not in variables:
                    errors.append(f"panel {title!r} uses undefined variable ${var}")
    for error in errors:
        print(f"promql: dashboard: {error}", file=sys.stderr)
    rules = [
        {"record": f"dashboard:panel_{i}", "expr": expr}
        for i, (_, expr) in enumerate(dashboard_exprs(dash))
    ]
    Path(out).write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, sort_keys=False))
    return 1 if errors else 0


def main(argv) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    commands = {"used": cmd_used, "check": cmd_check, "lint-dashboard": cmd_lint_dashboard}
    if argv[0] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
