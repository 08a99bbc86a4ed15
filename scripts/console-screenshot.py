#!/usr/bin/env python3
"""Regenerates docs/console.png, the README's picture of the console.

Starts a release build of seqhook on the embedded database in a scratch directory, gives it
a tenant with a few identities and two webhooks (one to a receiver started here, one to a
port nobody listens on), appends events in bursts for a little over a minute, signs in to
the console in a headless Chromium through chromedriver (Debian's `chromium` and
`chromium-driver`), and saves the overview, in the light theme and in the dark one. Usage: cargo build --release &&
scripts/console-screenshot.py
"""

import base64
import http.server
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "seqhook")
OUT = os.path.join(ROOT, "docs", "console.png")
OUT_DARK = os.path.join(ROOT, "docs", "console-dark.png")
ADMIN = "screenshot-admin"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method, url, body=None, key=None):
    request = urllib.request.Request(url, method=method)
    request.add_header("content-type", "application/json")
    if key:
        request.add_header("authorization", f"Bearer {key}")
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(request, data, timeout=30) as response:
        text = response.read()
        return json.loads(text) if text else None


class Receiver(http.server.BaseHTTPRequestHandler):
    """A webhook receiver that takes everything."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def wait_for(url):
    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"{url} never answered")


def shoot(webdriver, base, key, theme, path):
    """Signs in to the console in a fresh browser and saves its overview to `path`."""
    session = call("POST", webdriver, {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
        "binary": os.environ.get("CHROMIUM", "/usr/bin/chromium"),
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000", *theme],
    }}}})["value"]["sessionId"]
    at = f"{webdriver}/{session}"

    def element(css):
        for _ in range(100):
            try:
                found = call("POST", f"{at}/element", {"using": "css selector", "value": css})["value"]
                return next(iter(found.values()))
            except urllib.error.HTTPError:
                time.sleep(0.1)
        raise SystemExit(f"no {css}")

    call("POST", f"{at}/url", {"url": f"{base}/"})
    call("POST", f"{at}/element/{element('input[name=apiKey]')}/value", {"text": key})
    call("POST", f"{at}/element/{element('#sign-in button')}/click", {})
    element("#webhook-health")
    png = base64.b64decode(call("GET", f"{at}/screenshot")["value"])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as out:
        out.write(png)
    call("DELETE", at)
    print(f"wrote {path}")


def main():
    scratch = tempfile.mkdtemp()
    port, driver_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, SEQHOOK_LISTEN=f"127.0.0.1:{port}", SEQHOOK_ADMIN_TOKEN=ADMIN, RUST_LOG="warn")
    env.pop("DATABASE_URL", None)
    server = subprocess.Popen([BINARY, "serve"], cwd=scratch, env=env)
    driver = subprocess.Popen(["chromedriver", f"--port={driver_port}"], stdout=subprocess.DEVNULL)
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        wait_for(f"{base}/healthz")
        key = call("POST", f"{base}/v1/admin/tenants", {"name": "acme"}, ADMIN)["apiKey"]["key"]
        handles = ["alice.acme@inboxbase.ai", "bob.acme@inboxbase.ai", "carol.acme@inboxbase.ai"]
        for handle in handles:
            call("PUT", f"{base}/v1/identities/{handle}", key=key)
        call("POST", f"{base}/v1/webhooks", {
            "url": f"http://127.0.0.1:{receiver.server_address[1]}/crm", "description": "CRM sync"}, key)
        call("POST", f"{base}/v1/webhooks",
             {"url": "http://127.0.0.1:9/sequencer", "description": "Sequencer (down)"}, key)
        # Bursts across a minute's turn, so the charts have more than one bar.
        for burst in range(15):
            for n in range(1 + burst % 4):
                handle = handles[(burst + n) % len(handles)]
                call("POST", f"{base}/v1/identities/{handle}/events", {
                    "type": "email.no_reply",
                    "data": {"convId": f"conv_{burst}_{n}", "identity": handle,
                             "afterMessageId": f"<m{n}@acme.io>", "waitedMs": 14_400_000 + n},
                }, key)
            time.sleep(5)
        wait_for(f"http://127.0.0.1:{driver_port}/status")
        webdriver = f"http://127.0.0.1:{driver_port}/session"
        for out, theme in [(OUT, []), (OUT_DARK, ["--force-dark-mode"])]:
            shoot(webdriver, base, key, theme, out)
    finally:
        driver.terminate()
        server.terminate()
        server.wait()
        receiver.shutdown()


if __name__ == "__main__":
    main()
