# Shared by the panel's scripts (sourced, not run).
PANEL_DIR=$(cd "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/.." && pwd -P)
REPO_DIR=$(cd "$PANEL_DIR/.." && pwd -P)

log() { echo "panel: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# npm ci when node_modules is missing or older than package-lock.json.
ensure_node_modules() {
  command -v npm >/dev/null || die "node and npm are needed (apt-get install -y nodejs npm; Node 20.9 or newer)"
  if [ ! -f "$PANEL_DIR/node_modules/.package-lock.json" ] ||
    [ "$PANEL_DIR/package-lock.json" -nt "$PANEL_DIR/node_modules/.package-lock.json" ]; then
    log "installing npm packages (npm ci)"
    (cd "$PANEL_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# next build unless the last build is newer than every source file. The build
# goes to .next, or to PANEL_DIST_DIR (relative to panel/) when that is set.
ensure_build() {
  local stamp=$PANEL_DIR/${PANEL_DIST_DIR:-.next}/BUILD_ID
  if [ -f "$stamp" ] && [ -z "$(find "$PANEL_DIR/src" "$PANEL_DIR/next.config.ts" "$PANEL_DIR/package-lock.json" \
    "$PANEL_DIR/tsconfig.json" -newer "$stamp" -print -quit)" ]; then
    return 0
  fi
  log "building the panel (next build)"
  (cd "$PANEL_DIR" && NEXT_TELEMETRY_DISABLED=1 node_modules/.bin/next build >"$PANEL_DIR/.next-build.log" 2>&1) ||
    { tail -n 40 "$PANEL_DIR/.next-build.log" >&2; die "next build failed (log: panel/.next-build.log)"; }
  return 0
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until the panel answers its health route, or its process is gone.
wait_panel() {
  local url=$1 pid=$2 log_file=$3 deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null "$url/api/health" 2>/dev/null; do
    [ -d "/proc/$pid" ] || { tail -n 20 "$log_file" >&2; die "the panel exited"; }
    [ $SECONDS -lt $deadline ] || { tail -n 20 "$log_file" >&2; die "the panel did not answer in 60 s"; }
    sleep 0.2
  done
}

# Debian's chromium (the wrapper in /usr/bin sets flags; the binary is beside
# it) and fonts for Persian text and flag emoji, installed when missing; sets
# CHROMIUM to the binary.
ensure_chromium() {
  local missing=() pkg
  [ -x /usr/lib/chromium/chromium ] || [ -x /usr/bin/chromium ] || missing+=(chromium)
  for pkg in fonts-noto-core fonts-noto-color-emoji; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
      { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; } ||
      die "could not install ${missing[*]}"
  fi
  CHROMIUM=${CHROMIUM:-$([ -x /usr/lib/chromium/chromium ] && echo /usr/lib/chromium/chromium || echo /usr/bin/chromium)}
  export CHROMIUM
}

# Stops a panel started with setsid (its process group is its own), by PID.
stop_panel_group() {
  local pid=$1
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 0
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 50); do [ -d "/proc/$pid" ] || return 0; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
}
