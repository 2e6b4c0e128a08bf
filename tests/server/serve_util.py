"""Helpers for the `wick serve` tests: start a server on a free port, raw HTTP and SSE, metrics."""
import http.client
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.parse


class Server:
    """`wick serve --port 0 ARGS...`, waited for until /health answers 200 (or not, with wait=False)."""

    def __init__(self, wick, *args, wait=True, timeout=120):
        self.proc = subprocess.Popen([wick, "serve", "--port", "0", "--threads", "2", *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace")
        self.log = []
        self.port = None
        ready = threading.Event()

        def drain():
            for line in self.proc.stderr:
                self.log.append(line.rstrip("\n"))
                m = re.search(r"listening on http://[^:]+:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
                    ready.set()
            ready.set()

        self.thread = threading.Thread(target=drain, daemon=True)
        self.thread.start()
        if not ready.wait(timeout) or self.port is None:
            self.proc.kill()
            raise RuntimeError("wick serve did not start:\n" + "\n".join(self.log))
        self.url = "http://127.0.0.1:%d" % self.port
        if wait:
            deadline = time.time() + timeout
            while time.time() < deadline:
                try:
                    if request(self, "GET", "/health")[0] == 200:
                        return
                except OSError:
                    pass
                if self.proc.poll() is not None:
                    raise RuntimeError("wick serve exited:\n" + "\n".join(self.log))
                time.sleep(0.05)
            raise RuntimeError("wick serve never became healthy:\n" + "\n".join(self.log))

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.thread.join(5)
        return rc


def request(server, method, path, body=None, headers=None, raw=None, timeout=300):
    """One request; returns (status, headers dict (lower-case names), body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    conn.request(method, path, body=data, headers=h)
    r = conn.getresponse()
    out = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    conn.close()
    return r.status, hdrs, out


def post_json(server, path, body, headers=None):
    status, _, out = request(server, "POST", path, body, headers)
    return status, json.loads(out) if out else None


def sse_events(raw):
    """The events of an SSE body: ("comment", text) or ("data", parsed JSON or "[DONE]")."""
    events = []
    for block in raw.decode("utf-8").split("\n\n"):
        if not block:
            continue
        for line in block.split("\n"):
            if line.startswith(":"):
                events.append(("comment", line[1:].strip()))
            elif line.startswith("data: "):
                payload = line[6:]
                events.append(("data", payload if payload == "[DONE]" else json.loads(payload)))
    return events


def metrics(server):
    """Prometheus samples: {(name, frozenset(labels)): value}."""
    status, _, body = request(server, "GET", "/metrics")
    assert status == 200
    samples = {}
    for line in body.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        assert m, line
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        samples[(m.group(1), labels)] = float(m.group(4))
    return samples


def metric(samples, name, **labels):
    want = set(labels.items())
    total = None
    for (n, ls), v in samples.items():
        if n == name and want <= set(ls):
            total = (total or 0) + v
    return total


def run_json(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("%s failed: %s" % (cmd, out.stderr))
    return json.loads(out.stdout)
