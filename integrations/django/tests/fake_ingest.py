"""An in-process stand-in for ingest's POST /v1/events, for the unit tests:
records every request and answers from a script (default: 202, all accepted)."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeIngest:
    def __init__(self, port=0):
        self.requests = []  # (headers dict, parsed body)
        self.script = []  # answers to play first: (status, headers, body)
        self.delay = 0.0  # seconds to wait before answering (a slow ingest)
        self.lock = threading.RLock()
        self.arrived = threading.Condition(self.lock)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                body = json.loads(raw)
                with fake.lock:
                    answer = fake.script.pop(0) if fake.script else None
                    fake.requests.append((dict(self.headers), body, len(raw), answer))
                    fake.arrived.notify_all()
                if fake.delay:
                    time.sleep(fake.delay)
                if answer is None:
                    answer = (202, {}, {"accepted": len(body["events"]), "rejected": []})
                status, headers, payload = answer
                data = json.dumps(payload).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def events(self, accepted_only=True):
        """Every event received, in order (only from batches answered 2xx)."""
        with self.lock:
            out = []
            for _, body, _, answer in self.requests:
                if accepted_only and answer is not None and not 200 <= answer[0] < 300:
                    continue
                out.extend(body["events"])
            return out

    def wait_for(self, predicate, timeout=10.0):
        """Poll with a deadline until predicate(self) is true."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.arrived.wait(remaining)
        return True

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class BlackHole:
    """A socket that accepts connections (the kernel's backlog does) and never
    answers: the worst case for a sender, a hung ingest."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self):
        self.sock.close()


def closed_port_url():
    """A URL on a port where nothing listens (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"
