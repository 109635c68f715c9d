#!/usr/bin/env python3
"""Structural lint of deploy/docker/Dockerfile (no Docker engine needed).

Docker cannot run on the CI machines, so the images are never built there;
this keeps the Dockerfile honest about what can be checked without building:

- multi-stage: a build stage on the Rust image that runs
  `cargo build --release --locked` for every service crate, and one target
  per binary (ingest, query, forwarder, aggregator, ctl);
- every base image has an explicit tag (no implicit or explicit `latest`),
  ARG defaults resolved;
- every target runs as a non-root USER (numeric, not 0), inherited or its own;
- every target copies its binary from the build stage and starts it with an
  exec-form ENTRYPOINT of that same path;
- each binary is a real [[bin]] of the workspace, and EXPOSE matches the
  service's default ports (API, then ops) in services/<name>/src/defaults.toml.

Usage: lint-dockerfile.py [DOCKERFILE]
"""

import json
import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TARGETS = ("ingest", "query", "forwarder", "aggregator", "ctl")


def instructions(text: str):
    """(INSTRUCTION, arguments) with continuation lines joined, comments dropped."""
    logical, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        logical.append(current)
        current = ""
    for line in logical:
        word, _, rest = line.partition(" ")
        yield word.upper(), rest.strip()


def parse(text: str):
    args, stages, current = {}, {}, None
    for ins, rest in instructions(text):
        if ins == "ARG" and current is None:
            name, _, default = rest.partition("=")
            args[name] = default
        elif ins == "FROM":
            m = re.match(r"(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda v: args.get(v.group(1) or v.group(2), ""), m.group(1))
            current = {"name": m.group(2), "from": image, "body": []}
            stages[m.group(2) or f"#{len(stages)}"] = current
        elif current is not None:
            current["body"].append((ins, rest))
    return stages


def user_of(stages, stage):
    """The USER in effect at the end of a stage (stages inherit from parents)."""
    user = None
    if stage["from"] in stages:
        user = user_of(stages, stages[stage["from"]])
    for ins, rest in stage["body"]:
        if ins == "USER":
            user = rest
    return user


def workspace_bins():
    bins = {}
    for cargo in REPO.glob("services/*/Cargo.toml"):
        for b in tomllib.loads(cargo.read_text()).get("bin", []):
            bins[b["name"]] = cargo.parent
    return bins


def lint(path: Path) -> list:
    errors = []
    stages = parse(path.read_text())
    if len(stages) < 2:
        errors.append("not multi-stage")
    for name, stage in stages.items():
        image = stage["from"]
        if image in stages:
            continue
        tag = image.rsplit("/", 1)[-1]
        if "@sha256:" not in image and (":" not in tag or tag.endswith(":latest") or tag.endswith(":")):
            errors.append(f"stage {name}: base image {image!r} has no pinned tag")
    build = stages.get("build")
    cargo = " ".join(rest for ins, rest in (build or {"body": []})["body"] if ins == "RUN")
    if not build or not build["from"].startswith("rust:"):
        errors.append("no `build` stage FROM the rust image")
    elif not re.search(r"cargo build --release --locked", cargo):
        errors.append("build stage must run `cargo build --release --locked`")
    bins = workspace_bins()
    for target in TARGETS:
        binary = f"analytics-{target}"
        stage = stages.get(target)
        if not stage:
            errors.append(f"no target `{target}`")
            continue
        if f"-p {binary}" not in cargo:
            errors.append(f"target {target}: build stage does not build -p {binary}")
        if binary not in bins:
            errors.append(f"target {target}: {binary} is not a [[bin]] of the workspace")
        user = user_of(stages, stage)
        if not user or user.split(":")[0] in ("0", "root") or not user.split(":")[0].isdigit():
            errors.append(f"target {target}: must run as a numeric non-root USER (got {user!r})")
        copies = [rest for ins, rest in stage["body"] if ins == "COPY" and "--from=build" in rest]
        dest = copies[0].split()[-1] if copies else None
        if not copies or f"/out/{binary}" not in copies[0]:
            errors.append(f"target {target}: must COPY --from=build /out/{binary}")
        entry = [rest for ins, rest in stage["body"] if ins == "ENTRYPOINT"]
        try:
            argv = json.loads(entry[-1]) if entry else None
        except json.JSONDecodeError:
            argv = None
        if not argv or argv[0] != dest:
            errors.append(f"target {target}: ENTRYPOINT must be exec form starting {dest}")
        defaults = (bins.get(binary) or Path("/nonexistent")) / "src/defaults.toml"
        if defaults.exists():
            settings = tomllib.loads(defaults.read_text())
            # The API port, then the ops port where a service has one apart.
            ports = [settings.get(section, {}).get("port") for section in ("http", "ops")]
            listens = " ".join(str(p) for p in ports if p)
            exposed = [rest for ins, rest in stage["body"] if ins == "EXPOSE"]
            if listens and exposed != [listens]:
                errors.append(f"target {target}: EXPOSE {exposed} but the service listens on {listens}")
    return errors


def main(argv) -> int:
    path = (Path(argv[0]) if argv else REPO / "deploy/docker/Dockerfile").resolve()
    errors = lint(path)
    shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
    for error in errors:
        print(f"lint-dockerfile: {shown}: {error}", file=sys.stderr)
    if not errors:
        print(f"lint-dockerfile: {shown}: {len(TARGETS)} non-root targets, multi-stage, pinned bases: OK")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
