#!/usr/bin/env python3
"""A page at a phone's width in headless Chromium, through the DevTools protocol.

usage: phone.py CHROMIUM URL WIDTH OUT.png

Chromium's new headless mode makes no window narrower than 500 pixels, so
`--window-size=390,...` shows a 485-pixel page. This script emulates the device instead
(`Emulation.setDeviceMetricsOverride`, a mobile viewport of WIDTH CSS pixels, as the
DevTools' device toolbar does), loads URL, writes a screenshot of the whole page to
OUT.png and prints one JSON object:

  {"client_width": ..., "scroll_width": ..., "overflowing": ["TAG.class w=.. right=.. text", ...]}

`overflowing` lists the outermost elements whose right edge passes the viewport's (what
makes a page scroll sideways). The measuring script runs through `Runtime.evaluate`
(the page's Content-Security-Policy, which forbids scripts, is bypassed for the
DevTools session only: `Page.setBypassCSP`).

Only the Python standard library is used: a WebSocket client of the few lines the
protocol needs (RFC 6455: masked text frames out, text and continuation frames in).
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

PROBE = r"""(function () {
  var de = document.documentElement, cw = de.clientWidth, out = [];
  var past = function (e) { return e.getBoundingClientRect().right > cw + 0.5; };
  var clipped = function (e) {
    for (var a = e.parentElement; a && a !== document.body; a = a.parentElement) {
      var x = getComputedStyle(a).overflowX;
      if (x === 'auto' || x === 'scroll' || x === 'hidden') return true;
    }
    return false;
  };
  document.querySelectorAll('body *').forEach(function (e) {
    if (e.getBoundingClientRect().width === 0 || !past(e) || clipped(e)) return;
    // The outermost only: its parent fits.
    if (e.parentElement && e.parentElement !== document.body && past(e.parentElement)) return;
    var r = e.getBoundingClientRect();
    var cls = typeof e.className === 'string' ? e.className : '';
    out.push(e.tagName + '.' + cls + ' w=' + Math.round(r.width) + ' right=' +
             Math.round(r.right) + ' ' + (e.textContent || '').trim().slice(0, 60));
  });
  return JSON.stringify({client_width: cw, scroll_width: de.scrollWidth, overflowing: out});
})()"""


class Socket:
    """A WebSocket connection to Chromium's DevTools endpoint."""

    def __init__(self, url):
        assert url.startswith("ws://"), url
        hostport, path = url[len("ws://"):].split("/", 1)
        host, port = hostport.split(":")
        self.s = socket.create_connection((host, int(port)), timeout=60)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall((f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.s.recv(1)
            if not chunk:
                raise SystemExit("DevTools closed the connection during the handshake")
            head += chunk
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise SystemExit(f"DevTools refused the WebSocket: {head!r}")
        self.next_id = 0
        # Events that arrive while a command waits for its answer.
        self.events = []

    def _exactly(self, n):
        data = bytearray()
        while len(data) < n:
            chunk = self.s.recv(min(n - len(data), 1 << 20))
            if not chunk:
                raise SystemExit("DevTools closed the connection")
            data += chunk
        return bytes(data)

    def send(self, text):
        payload = text.encode()
        n = len(payload)
        if n < 126:
            head = bytes([0x81, 0x80 | n])
        elif n < 65536:
            head = bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head = bytes([0x81, 0x80 | 127]) + n.to_bytes(8, "big")
        mask = os.urandom(4)
        self.s.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def receive(self):
        message = bytearray()
        while True:
            b0, b1 = self._exactly(2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(self._exactly(2), "big")
            elif n == 127:
                n = int.from_bytes(self._exactly(8), "big")
            payload = self._exactly(n)
            opcode = b0 & 0x0F
            if opcode == 0x8:
                raise SystemExit("DevTools closed the WebSocket")
            if opcode in (0x9, 0xA):  # ping, pong: not part of a message
                continue
            message += payload
            if b0 & 0x80:
                return json.loads(message)

    def call(self, method, **params):
        """Sends a command; returns its result (events that arrive meanwhile are kept)."""
        self.next_id += 1
        self.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            m = self.receive()
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise SystemExit(f"{method}: {m['error']}")
                return m["result"]
            self.events.append(m)


def main():
    chromium, url, width, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    profile = tempfile.mkdtemp(prefix="casework-phone-")
    # Port 0: Chromium picks a free port and writes it to DevToolsActivePort in the
    # profile (no race with another process for a port chosen here). Its own process
    # group, so that every process it starts goes with it.
    browser = subprocess.Popen(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        page = None
        deadline = time.time() + 30
        active = os.path.join(profile, "DevToolsActivePort")
        while page is None and time.time() < deadline:
            try:
                with open(active) as f:
                    port = int(f.readline())
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                    page = next((t for t in json.load(r) if t["type"] == "page"), None)
            except (OSError, ValueError):
                pass
            if page is None:
                time.sleep(0.1)
        if not page:
            raise SystemExit("Chromium's DevTools did not answer within 30 s")
        ws = Socket(page["webSocketDebuggerUrl"])
        ws.call("Page.enable")
        ws.call("Page.setBypassCSP", enabled=True)
        ws.call("Emulation.setDeviceMetricsOverride", width=width, height=844,
                deviceScaleFactor=1, mobile=True)
        # Only the load of the page asked for counts (about:blank's may come late).
        ws.events.clear()
        nav = ws.call("Page.navigate", url=url)
        if nav.get("errorText"):
            raise SystemExit(f"{url}: {nav['errorText']}")
        deadline = time.time() + 60
        while not any(e.get("method") == "Page.loadEventFired" for e in ws.events):
            if time.time() > deadline:
                raise SystemExit(f"{url} did not load within 60 s")
            ws.events.append(ws.receive())
        probe = ws.call("Runtime.evaluate", expression=PROBE, returnByValue=True)
        if "exceptionDetails" in probe:
            raise SystemExit(f"the measuring script failed: {probe['exceptionDetails']}")
        measured = json.loads(probe["result"]["value"])
        size = ws.call("Page.getLayoutMetrics")["cssContentSize"]
        shot = ws.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                       clip={"x": 0, "y": 0, "width": max(width, size["width"]),
                             "height": min(size["height"], 16000), "scale": 1})
        with open(out, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        print(json.dumps(measured))
    finally:
        try:
            os.killpg(browser.pid, 9)
        except ProcessLookupError:
            pass
        browser.wait()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
