"""A `mot serve` under test and an HTTP client for it (tests/cli/test_serve*.py).

    s = serve_client.Server(MOT, ["-m", model, "-t", "2"])
    status, headers, body = s.post("/v1/completions", {"prompt": "..."})
    status, events, done = s.stream("/v1/chat/completions", {...})
    rc = s.stop()   # SIGTERM; the exit status, or "hung"
"""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "reference"))
import backend_bounds  # noqa: E402


class Server:
    """`mot serve ARGS` on a port the system picks; its stderr kept in .log. Exits with
    backend_bounds.SKIP when the backend asked for has no device."""

    def __init__(self, mot, args):
        self.p = subprocess.Popen([mot, "serve", "--port", "0", *args],
                                  stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, errors="replace")
        self.log = []
        self.port = None
        deadline = time.time() + 120
        while time.time() < deadline:
            line = self.p.stderr.readline()
            if not line:
                break
            self.log.append(line)
            m = re.search(r"on http://127\.0\.0\.1:(\d+) ", line)
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            self.p.wait(timeout=30)
            text = "".join(self.log)
            if backend_bounds.no_device(text):
                print(f"skipped: {text.strip()}")
                sys.exit(backend_bounds.SKIP)
            raise SystemExit(f"mot serve did not start: {text}")
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self):
        for line in self.p.stderr:
            self.log.append(line)

    def request(self, method, path, body=None, headers=None, raw=None):
        """-> (status, headers, decoded JSON or text)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        c.request(method, path, body=data, headers=dict({"Content-Type": "application/json"}, **(headers or {})))
        r = c.getresponse()
        text = r.read().decode("utf-8", "replace")
        c.close()
        try:
            return r.status, dict(r.getheaders()), json.loads(text)
        except ValueError:
            return r.status, dict(r.getheaders()), text

    def post(self, path, body, **kw):
        return self.request("POST", path, body, **kw)

    def stream(self, path, body):
        """A streamed request -> (status, [parsed events], saw [DONE])."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        c.request("POST", path, body=json.dumps(dict(body, stream=True)), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        events, done = [], False
        for block in r.read().decode("utf-8").split("\n\n"):
            if not block.strip():
                continue
            if not block.startswith("data: "):
                events.append({"bad block": block})
            elif block == "data: [DONE]":
                done = True
            else:
                events.append(json.loads(block[6:]))
        c.close()
        return r.status, events, done

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = "hung"
        self.reader.join(timeout=10)
        return rc
