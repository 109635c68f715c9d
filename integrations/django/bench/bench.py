"""Cost per request of the Django middleware: gunicorn + wrk, tracking off, the
new middleware (queue in memory, events to the test stack's real ingest), and
the rebuilt old one (session + LPUSH/LTRIM to Redis), in the same run.

Runs alternate between the three modes (order rotated each repetition); the
table gives medians over repetitions, and the ratios and added latencies are
medians of the per-repetition pairs. Prints a Markdown section to stdout;
progress goes to stderr.
"""

import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
VENV_BIN = Path(sys.executable).parent
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
# new: events to the test stack's real ingest (which, with the forwarder,
# aggregator and Postgres, shares the machine's CPUs during the run);
# sink: the same middleware, events to a stub that only answers 202, which is
# what the site's servers pay when ingest runs elsewhere, as in production.
MODES = ("off", "new", "sink", "old")
PORTS = {"off": 18201, "new": 18202, "sink": 18204, "old": 18203}
PIPELINE = ("ingest", "forwarder", "aggregator")
WORKERS = {
    "sync": ["-w", "2"],
    "gthread": ["-k", "gthread", "-w", "2", "--threads", "4"],
}
DUR = int(os.environ.get("DUR", "6"))
LAT_DUR = int(os.environ.get("LAT_DUR", "4"))
REPS = int(os.environ.get("REPS", "4"))
REDIS_PORT = os.environ.get("BENCH_REDIS_PORT", "16379")
REDIS_DB = os.environ.get("BENCH_REDIS_DB", "7")
PAIR_REPS = int(os.environ.get("PAIR_REPS", "8"))
PAIR_DUR = int(os.environ.get("PAIR_DUR", "5"))
# (worker config, connections, seconds per run)
PLAN = [("sync", 1, LAT_DUR), ("sync", 8, DUR), ("gthread", 8, DUR)]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def redis(*args):
    return subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", REDIS_PORT, "-n", REDIS_DB, *map(str, args)],
                          check=True, capture_output=True, text=True).stdout.strip()


def create_site():
    ctl = os.environ.get("ANALYTICS_CTL", str(REPO / "target" / "debug" / "analytics-ctl"))
    out = subprocess.run([ctl, "site", "add", "--domain", f"djbench-{uuid.uuid4().hex[:10]}.test",
                          "--timezone", "UTC"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def overview(site):
    request = urllib.request.Request(
        f"{os.environ['QUERY_URL']}/api/analytics/overview/?site={site['id']}",
        headers={"Authorization": f"Bearer {site['api_token']}"})
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())


class Sink:
    """A stand-in ingest that counts events and answers 202; almost free."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        import threading

        sink = self
        self.events = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each answer waits 40 ms for a delayed ACK

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                n = body.count(b'"type":"pageview"')
                sink.events += n
                answer = b'{"accepted":%d,"rejected":[]}' % n
                self.send_response(202)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def pipeline_cpu_s():
    """CPU seconds used so far by the test stack's ingest, forwarder and aggregator."""
    total = 0.0
    for name in PIPELINE:
        try:
            pid = (REPO / ".local" / "e2e" / "run" / f"{name}.pid").read_text().strip()
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            pass
    return total


def settle_pipeline(limit_s=15.0):
    """Wait until the test stack has worked off `new`'s events (its CPU use
    under 5% over half a second), so that the pipeline does not run on the
    CPUs during the next mode's run and make that mode look slower."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before = pipeline_cpu_s()
        time.sleep(0.5)
        if pipeline_cpu_s() - before < 0.025:
            return


def workers_cpu_s(master):
    """CPU seconds used so far by the gunicorn master's worker processes."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def start(cfg, mode, site, sink, port=None, workers=None, cpus=None):
    """gunicorn for one mode; `workers` overrides the count of WORKERS[cfg],
    `cpus` pins it (and its workers) to those CPUs."""
    port = port or PORTS[mode]
    args = list(WORKERS[cfg])
    if workers is not None:
        args[args.index("-w") + 1] = str(workers)
    env = dict(os.environ, BENCH_MODE="new" if mode == "sink" else mode, BENCH_SITE=site["id"],
               BENCH_REDIS_URL=f"redis://127.0.0.1:{REDIS_PORT}/{REDIS_DB}",
               GEOIP_MMDB=str(REPO / ".local" / "data" / "country.mmdb"),
               PYTHONPATH=str(HERE))
    if mode == "sink":
        env["INGEST_URL"] = sink.url
    proc = subprocess.Popen([str(VENV_BIN / "gunicorn"), "benchsite.wsgi", "-b", f"127.0.0.1:{port}",
                             *args, "--log-level", "warning"],
                            cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn {cfg}/{mode} exited: {proc.stderr.read()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"gunicorn {cfg}/{mode} did not start")


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def ms(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s)$", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def wrk_command(port, conns, dur):
    return ["wrk", "-t1", f"-c{conns}", f"-d{dur}s", "--latency", "-H", f"User-Agent: {UA}", f"http://127.0.0.1:{port}/"]


def wrk(port, conns, dur):
    return parse_wrk(subprocess.run(wrk_command(port, conns, dur), capture_output=True, text=True,
                                    timeout=dur + 60).stdout)


def parse_wrk(out):
    result = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
        "p99": ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
    }
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    result["bad"] = (int(bad.group(1)) if bad else 0, errors.group(1) if errors else "")
    return result


def same_cpu_pairs(site, sink):
    """`off` and `sink` side by side: one worker each, both pinned to the same
    CPU, loaded by two wrk at once from the other CPU. This VM's CPUs change
    speed by up to a third from one second to the next and differ from each
    other, which moves req/s between consecutive runs by more than the 5%
    being measured; two servers sharing one CPU at the same moment see the same
    speed, so their ratio keeps only the cost of the middleware. Returns
    {cfg: [(req/s ratio, ratio per worker CPU-second, worker CPU µs added per
    request), ...]}; needs 2 CPUs."""
    load_cpu, server_cpu = {0}, {max(os.sched_getaffinity(0))}
    if load_cpu == server_cpu:
        return {}
    own = os.sched_getaffinity(0)
    os.sched_setaffinity(0, load_cpu)  # this process answers as the stub, and spawns wrk
    pairs = {}
    try:
        for cfg in WORKERS:
            servers = {mode: start(cfg, mode, site, sink, port=PORTS[mode] + 100, workers=1, cpus=server_cpu)
                       for mode in ("off", "sink")}
            try:
                for mode, proc in servers.items():
                    wrk(PORTS[mode] + 100, 8, 2)  # warm-up
                for rep in range(PAIR_REPS):
                    cpu0 = {mode: workers_cpu_s(proc.pid) for mode, proc in servers.items()}
                    runs = {mode: subprocess.Popen(wrk_command(PORTS[mode] + 100, 8, PAIR_DUR), stdout=subprocess.PIPE,
                                                   text=True) for mode in servers}
                    out = {mode: parse_wrk(run.communicate(timeout=PAIR_DUR + 60)[0]) for mode, run in runs.items()}
                    cpu = {mode: workers_cpu_s(proc.pid) - cpu0[mode] for mode, proc in servers.items()}
                    ratio = out["sink"]["rps"] / out["off"]["rps"]
                    per_cpu = ratio * cpu["off"] / cpu["sink"]
                    added_us = (cpu["sink"] / out["sink"]["requests"] - cpu["off"] / out["off"]["requests"]) * 1e6
                    pairs.setdefault(cfg, []).append((ratio, per_cpu, added_us))
                    log(f"pair {cfg:7s} rep{rep} off {out['off']['rps']:7.1f} sink {out['sink']['rps']:7.1f} req/s  "
                        f"ratio {ratio:.3f}  per CPU-second {per_cpu:.3f}  added {added_us:+.1f} us/req")
            finally:
                for proc in servers.values():
                    stop(proc)
    finally:
        os.sched_setaffinity(0, own)
    return pairs


def cpu_speed_ms():
    """CPU time of one fixed Python loop, 8 times on each CPU: how much this
    machine's CPUs change speed, which decides how far runs can be compared."""
    own, times = os.sched_getaffinity(0), []
    try:
        for cpu in sorted(own):
            os.sched_setaffinity(0, {cpu})
            for _ in range(8):
                started, total = time.process_time(), 0
                for i in range(1_000_000):
                    total += i * i
                times.append((time.process_time() - started) * 1000)
    finally:
        os.sched_setaffinity(0, own)
    return min(times), max(times)


def enqueue_cost_us():
    """The middleware's own work per request (rules + queue append), timed in
    process over 20,000 calls, with the sender pointed nowhere."""
    code = r"""
import os, time, django
os.environ["DJANGO_SETTINGS_MODULE"] = "benchsite.settings"
os.environ["BENCH_MODE"] = "new"
django.setup()
from django.conf import settings
settings.ANALYTICS = {"INGEST_URL": "http://127.0.0.1:9", "INGEST_KEY": "k", "SITE": "s", "QUEUE_SIZE": 100000,
                      "FLUSH_INTERVAL": 3600}
from django.http import HttpResponse
from django.test import RequestFactory
from analytics_django.middleware import AnalyticsMiddleware
mw = AnalyticsMiddleware(lambda r: HttpResponse("x"))
rf = RequestFactory()
requests = [rf.get("/", HTTP_USER_AGENT="%s", REMOTE_ADDR="8.8.8.8") for _ in range(20000)]
best = None
for _ in range(3):
    t0 = time.perf_counter()
    for r in requests:
        mw._observe(r, mw.get_response(r), 0.0, 0.0)
    dt = (time.perf_counter() - t0) / len(requests)
    best = dt if best is None else min(best, dt)
t0 = time.perf_counter()
for r in requests:
    mw.get_response(r)
base = (time.perf_counter() - t0) / len(requests)
print((best - base) * 1e6)
os._exit(0)
""" % UA
    out = subprocess.run([sys.executable, "-c", code], cwd=HERE, env=dict(os.environ, PYTHONPATH=str(HERE)),
                         capture_output=True, text=True, timeout=120)
    return float(out.stdout.strip()) if out.returncode == 0 else None


def main():
    for name in ("INGEST_URL", "INGEST_KEY", "QUERY_URL"):
        if not os.environ.get(name):
            sys.exit(f"bench: {name} missing: source .local/e2e/stack.env (bench/run.sh does)")
    load_before = os.getloadavg()
    site = create_site()
    log(f"bench: site {site['id']} for the new middleware's events; Redis db {REDIS_DB} for the old one")
    redis("FLUSHDB")  # our own db number only
    results = {}  # (cfg, conns, mode) -> [run...]
    new_requests = 0
    sink = Sink()
    pipeline = {"cpu_s": 0.0, "events": 0}
    started_at = time.monotonic()
    try:
        for cfg in ("sync", "gthread"):
            servers = {mode: start(cfg, mode, site, sink) for mode in MODES}
            try:
                for mode in MODES:  # warm-up
                    r = wrk(PORTS[mode], 8, 2)
                    if mode == "new":
                        new_requests += r["requests"]
                for _, conns, dur in [p for p in PLAN if p[0] == cfg]:
                    for rep in range(REPS):
                        order = MODES[rep % len(MODES):] + MODES[:rep % len(MODES)]
                        for mode in order:
                            cpu0, work0 = pipeline_cpu_s(), workers_cpu_s(servers[mode].pid)
                            r = wrk(PORTS[mode], conns, dur)
                            r["cpu_us"] = (workers_cpu_s(servers[mode].pid) - work0) * 1e6 / max(1, r["requests"])
                            if mode == "new":
                                pipeline["cpu_s"] += pipeline_cpu_s() - cpu0
                                pipeline["events"] += r["requests"]
                                settle_pipeline()
                            results.setdefault((cfg, conns, mode), []).append(r)
                            if mode == "new":
                                new_requests += r["requests"]
                            log(f"{cfg:7s} c{conns} rep{rep} {mode:3s} {r['rps']:8.1f} req/s  p50 {r['p50']:.2f} ms  "
                                f"p99 {r['p99']:.2f} ms  cpu {r['cpu_us']:.0f} us/req  bad {r['bad']}")
            finally:
                for proc in servers.values():
                    stop(proc)  # the new middleware's workers flush their queues here
    finally:
        old_queue = redis("LLEN", "analytics:queue")
        old_keys = redis("DBSIZE")
        redis("FLUSHDB")
    elapsed = time.monotonic() - started_at

    # Everything the new middleware queued should arrive (wrk does not count
    # the responses still in flight when a run ends, so a few more may).
    deadline = time.monotonic() + 30
    while True:
        counted = overview(site)["today"]["pageviews"]
        if counted >= new_requests or time.monotonic() > deadline:
            break
        time.sleep(1)
    cost = enqueue_cost_us()
    sunk = sink.events
    pairs = same_cpu_pairs(site, sink)
    speed = cpu_speed_ms()

    print(report(results, new_requests, counted, old_queue, old_keys, load_before, elapsed, cost, pipeline,
                 sunk, pairs, speed))


def report(results, new_requests, counted, old_queue, old_keys, load_before, elapsed, cost, pipeline, sunk, pairs,
           speed):
    import django
    import gunicorn

    med = statistics.median
    lines = [
        "## Django middleware: cost per request",
        "",
        f"Conditions: {os.cpu_count()} CPUs shared by wrk, both gunicorn workers, Redis, and for `new` also the "
        "test stack's ingest, forwarder, aggregator and Postgres, which process the events during the run; "
        f"load average {load_before[0]:.2f} at start (the machine was shared). Python {platform.python_version()}, "
        f"Django {django.get_version()}, gunicorn {gunicorn.__version__}, wrk `-t1 --latency`, desktop Chrome user "
        "agent, no cookies kept (every request is a first visit), trivial HTML view behind Django's stock "
        "middleware stack, cache sessions on django-redis. Modes: `off` (no tracking); `new` (`analytics_django`, "
        "events to the test stack's real ingest, whose pipeline runs on the same 2 CPUs); `sink` (the same "
        "middleware, events to a stub that answers 202: the site's own cost when ingest runs elsewhere, as in "
        "production); `old` (the rebuilt old middleware: user check, session created, LPUSH + LTRIM to Redis). "
        f"{REPS} repetitions of {DUR} s (c8) and {LAT_DUR} s (c1), modes alternating in rotated order; medians. "
        "Ratio and added latency are medians of the per-repetition differences to `off`; c1 is the clean "
        f"per-request latency, c8 the throughput at saturation. Worker CPU is the user + system time of the "
        "gunicorn workers per request served (from /proc): less sensitive to a shared machine than req/s; it "
        f"leaves out Redis (for `old`) and the pipeline (for `new`). Total {elapsed:.0f} s.",
        "",
        "| workers, load | mode | req/s | ratio to off | p50 ms | p99 ms | added p50 / p99 ms | worker CPU µs/req (added) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for cfg, conns, _ in PLAN:
        off = results[(cfg, conns, "off")]
        label = f"{cfg}{' x4 threads' if cfg == 'gthread' else ''}, c{conns}"
        for mode in MODES:
            runs = results[(cfg, conns, mode)]
            ratio = med([r["rps"] / o["rps"] for r, o in zip(runs, off)])
            d50 = med([r["p50"] - o["p50"] for r, o in zip(runs, off)])
            d99 = med([r["p99"] - o["p99"] for r, o in zip(runs, off)])
            added = "" if mode == "off" else f"{d50:+.2f} / {d99:+.2f}"
            cpu = med([r["cpu_us"] for r in runs])
            dcpu = med([r["cpu_us"] - o["cpu_us"] for r, o in zip(runs, off)])
            cpu_text = f"{cpu:.0f}" if mode == "off" else f"{cpu:.0f} ({dcpu:+.0f})"
            ratio_text = "1" if mode == "off" else f"**{ratio:.2f}**"
            lines.append(f"| {label} | {mode} | {med([r['rps'] for r in runs]):.0f} | {ratio_text} | "
                         f"{med([r['p50'] for r in runs]):.2f} | {med([r['p99'] for r in runs]):.2f} | {added} | {cpu_text} |")
    bad = [(k, r["bad"]) for k, runs in results.items() for r in runs if r["bad"][0] or r["bad"][1]]
    lines += [
        "",
        f"- The new middleware's own work (rules and the queue append) costs "
        f"{'%.1f µs' % cost if cost is not None else 'n/a'} per request, timed in process; the worker CPU column "
        "adds the sender thread's share (encoding and posting batches).",
        f"- The pipeline (ingest, forwarder, aggregator; {os.path.basename(os.environ.get('ANALYTICS_BIN_DIR', 'debug'))} "
        "builds; Postgres not included) used "
        f"{pipeline['cpu_s']:.1f} CPU-s during the `new` runs, "
        f"{(pipeline['cpu_s'] * 1e6 / pipeline['events']) if pipeline['events'] else 0:.0f} µs per event, taken "
        "from the same 2 CPUs the site runs on; a site whose ingest runs on other machines does not pay it.",
        f"- The stub behind `sink` received {sunk} events.",
        f"- Delivery: `new` served {new_requests} requests that wrk counted; the query API counts "
        f"{counted} pageviews for the bench site (a few more than wrk counts is expected: responses in flight "
        "when a run stops are served and tracked but not counted by wrk).",
        f"- Old: the Redis list held {old_queue} entries at the end (trimmed at 10,000) and db {REDIS_DB} held "
        f"{old_keys} keys, nearly all sessions created for cookieless requests.",
        f"- Non-2xx responses or socket errors: {bad if bad else 'none'}.",
    ]
    if pairs:
        lines += [
            "",
            "### Throughput ratio on one CPU, side by side",
            "",
            "Between consecutive runs above, `off` alone moves by more than the 5% being measured: this VM's two "
            "CPUs differ in speed and each changes speed within seconds (in this run one fixed Python loop took "
            f"{speed[0]:.0f} to {speed[1]:.0f} ms of CPU time, 8 times on each CPU). So the ratio is also measured with `off` and `sink` running at the same moment on the "
            "same CPU, where both see the same speed: one gunicorn worker each, both pinned to the second CPU, "
            f"two `wrk -c8` at once from the first CPU (which also runs the stub), {PAIR_REPS} pairs of {PAIR_DUR} s. "
            "Per worker CPU-second divides each server's requests by the CPU time its worker used, which removes "
            "how the scheduler happened to split the CPU between the two. The worker CPU added per request, "
            "sender thread included, is also what a request waits longer at c1 at most: one request at a time "
            "is served by one thread, and the sender mostly runs between requests.",
            "",
            "| workers | sink / off req/s, median (min–max) | sink / off per worker CPU-second, median (min–max) "
            "| worker CPU added per request, median (min–max) |",
            "|---|---|---|---|",
        ]
        for cfg, runs in pairs.items():
            label = f"{cfg}{' x4 threads' if cfg == 'gthread' else ''}, 1 worker, c8"
            cells = []
            for i, fmt in ((0, "{:.3f}"), (1, "{:.3f}"), (2, "{:+.0f} µs")):
                xs = [r[i] for r in runs]
                cells.append(f"**{fmt.format(statistics.median(xs))}** ({fmt.format(min(xs))} – {fmt.format(max(xs))})")
            lines.append(f"| {label} | {' | '.join(cells)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
