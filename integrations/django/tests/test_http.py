"""The sender's connection to ingest (`sender.Ingest`) against a raw socket
server that answers with scripted bytes: every framing a server or a proxy in
front of ingest may use, and the broken answers it must survive."""

import json
import socket
import threading

import pytest

from analytics_django import sender

BODY = b'{"events":[]}'


class RawServer:
    """Reads one request at a time (head + Content-Length body) and writes the
    next scripted answer; `None` closes the connection instead of answering."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.requests = []  # (head bytes, body bytes)
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1/events"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while self.answers:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                data = b""
                while self.answers:
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    if b"\r\n\r\n" not in data:
                        break
                    head, data = data.split(b"\r\n\r\n", 1)
                    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                      if line.lower().startswith(b"content-length:")))
                    while len(data) < length:
                        data += conn.recv(65536)
                    self.requests.append((head, data[:length]))
                    data = data[length:]
                    answer = self.answers.pop(0)
                    if answer is None:
                        break
                    conn.sendall(answer)
                    if b"connection: close" in answer.lower() or b"content-length" not in answer.lower() \
                            and b"chunked" not in answer.lower():
                        break

    def close(self):
        self.sock.close()


def ok(n=0, extra=b""):
    body = b'{"accepted":%d,"dropped":0,"rejected":[]}' % n
    return b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n" + extra + \
        b"Content-Length: %d\r\n\r\n" % len(body) + body


@pytest.fixture
def raw():
    made = []

    def make(*answers):
        server = RawServer(answers)
        made.append(server)
        return server, sender.Ingest(server.url, "the-key", 2.0)

    yield make
    for server in made:
        server.close()


def test_the_request_head_and_keep_alive(raw):
    server, ingest = raw(ok(3), ok(4))
    assert ingest.post(BODY, "key-1").accepted == 3
    assert ingest.post(BODY, "key-2").accepted == 4
    assert server.connections == 1
    head, body = server.requests[0]
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v1/events HTTP/1.1"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    expected = {
        "Host": server.url.split("/")[2], "Content-Type": "application/json", "X-Ingest-Key": "the-key",
        "User-Agent": f"analytics-django/{sender.__version__}", "Idempotency-Key": "key-1",
        "Content-Length": str(len(BODY)),
    }
    assert {name: headers.get(name) for name in expected} == expected
    assert body == BODY


def test_a_chunked_answer(raw):
    payload = b'{"accepted":2,"dropped":0,"rejected":[{"index":1,"error":"x"}]}'
    answer = (b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n"
              + b"%x;ext=1\r\n%s\r\n" % (10, payload[:10]) + b"%x\r\n%s\r\n" % (len(payload) - 10, payload[10:])
              + b"0\r\nX-Trailer: t\r\n\r\n")
    server, ingest = raw(answer, ok(1))
    outcome = ingest.post(BODY, "k")
    assert (outcome.accepted, outcome.rejected) == (2, 1)
    assert ingest.post(BODY, "k").accepted == 1
    assert server.connections == 1, "a chunked answer keeps the connection"


def test_connection_close_and_http_1_0_answers_reconnect(raw):
    body = b'{"accepted":1,"rejected":[]}'
    server, ingest = raw(
        ok(1, b"Connection: close\r\n"),
        b"HTTP/1.0 202 Accepted\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
        b"HTTP/1.0 202 Accepted\r\n\r\n" + body,  # no length: the body runs to the close
        ok(5),
    )
    assert [ingest.post(BODY, "k").accepted for _ in range(4)] == [1, 1, 1, 5]
    assert server.connections == 4


def test_an_interim_100_answer_is_skipped(raw):
    server, ingest = raw(b"HTTP/1.1 100 Continue\r\n\r\n" + ok(7))
    assert ingest.post(BODY, "k").accepted == 7


def test_a_kept_alive_connection_closed_by_the_server_is_retried_once(raw):
    server, ingest = raw(ok(1), None, ok(2))
    assert ingest.post(BODY, "k1").accepted == 1
    assert ingest.post(BODY, "k2").accepted == 2  # the first try met the closed connection
    assert [h.split(b"Idempotency-Key: ")[1][:2] for h, _ in server.requests] == [b"k1", b"k2", b"k2"]


def test_503_with_retry_after_and_a_4xx(raw):
    server, ingest = raw(b"HTTP/1.1 503 Busy\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nbusy",
                         b"HTTP/1.1 400 Bad Request\r\nContent-Length: 8\r\n\r\nbad site")
    outcome = ingest.post(BODY, "k")
    assert (outcome.accepted, outcome.retry_after, outcome.refused) == (None, 7.0, False)
    assert "503: busy" in outcome.error
    outcome = ingest.post(BODY, "k")
    assert outcome.refused and "400: bad site" in outcome.error


@pytest.mark.parametrize("answer", [
    b"garbage\r\n\r\n",
    b"HTTP/1.1 202 Accepted\r\nContent-Length: 100\r\n\r\n{\"acc",  # cut short
    b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
])
def test_a_broken_answer_is_a_failed_attempt(raw, answer):
    server, ingest = raw(answer, ok(1))
    outcome = ingest.post(BODY, "k")
    assert outcome.accepted is None and not outcome.refused and "unreachable" in outcome.error
    assert ingest.post(BODY, "k").accepted == 1, "the next attempt opens a fresh connection"


def test_an_unreadable_2xx_body(raw):
    server, ingest = raw(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nnot")
    outcome = ingest.post(BODY, "k")
    assert outcome.accepted == 0 and "unreadable" in outcome.error


def test_against_http_server(ingest):
    """The stdlib's server as a second opinion on the request's framing."""
    client = sender.Ingest(ingest.url, "k", 2.0)
    body = json.dumps({"events": [{"path": "/x"}]}).encode()
    assert client.post(body, "idem").accepted == 1
    assert client.post(body, "idem2").accepted == 1
    headers, parsed, size, _ = ingest.requests[0]
    assert parsed == {"events": [{"path": "/x"}]} and size == len(body)
    assert headers["Idempotency-Key"] == "idem" and headers["X-Ingest-Key"] == "k"
    client.close()
