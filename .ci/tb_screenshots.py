"""Screenshots of TensorBoard as a user sees it, for docs/figures/tensorboard/ (docs/development.md says when and how).

    .venv/bin/python .ci/tb_screenshots.py <logs dir> [--out docs/figures/tensorboard] [--run <run for Custom Scalars>]

Serves <logs dir> with TensorBoard on 127.0.0.1 (an ephemeral port, in this process), opens each page in headless
Chromium (`chromium` on the PATH) and saves a palette PNG of it. Chromium's own `--screenshot` shoots before the
charts have drawn (they load over HTTP and draw in a worker, which `--virtual-time-budget` does not wait for), so
the page is driven through the DevTools protocol on 127.0.0.1 and shot after WAIT seconds of real time. The
protocol needs a WebSocket: the few lines of one are below (the standard library has none). Not run in CI.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

WAIT = 12.0  # seconds for a page to load its data and draw (2-core machine under load: 6-8 s)
# (file, page, width, height): the pages docs/sweeps.md#what-tensorboard-shows shows
SHOTS = (
    ("time_series.png", "?tagFilter=%2F(loss%7Cacc)%24&smoothing=0#timeseries", 1600, 1250),
    ("time_series_landing.png", "#timeseries", 1600, 900),
    ("hparams.png", "#hparams", 2000, 860),
    ("custom_scalars_one_run.png", "#custom_scalars&_smoothingWeight=0&regexInput={run}", 1200, 560),
)


class Page:
    """One Chromium tab, spoken to over the DevTools protocol: a minimal WebSocket client (RFC 6455)."""

    def __init__(self, ws_url: str):
        url = urllib.parse.urlparse(ws_url)
        self.sock = socket.create_connection((url.hostname, url.port), timeout=60)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += self.sock.recv(1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise SystemExit(f"error: Chromium refused the DevTools connection: {head.decode(errors='replace')}")
        self.last = 0

    def _exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise SystemExit("error: Chromium closed the DevTools connection")
            data += chunk
        return data

    def _message(self) -> dict:
        data = b""
        while True:
            first, second = self._exact(2)
            n = second & 0x7F
            n = struct.unpack(">H", self._exact(2))[0] if n == 126 else n
            n = struct.unpack(">Q", self._exact(8))[0] if n == 127 else n
            data += self._exact(n)  # a server's frames are not masked
            if first & 0x80:  # the last frame of the message
                return json.loads(data)

    def call(self, method: str, **params):
        self.last += 1
        payload = json.dumps({"id": self.last, "method": method, "params": params}).encode()
        n, mask = len(payload), os.urandom(4)  # a client masks what it sends
        size = bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
        self.sock.sendall(b"\x81" + size + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        while True:
            message = self._message()
            if message.get("id") == self.last:
                if "error" in message:
                    raise SystemExit(f"error: {method}: {message['error']}")
                return message["result"]


def serve(logdir: Path) -> str:
    from tensorboard import program

    board = program.TensorBoard()
    board.configure(argv=[None, "--logdir", str(logdir), "--host", "127.0.0.1", "--port", "0", "--load_fast", "false"])
    return board.launch().rstrip("/")


def chromium(profile: Path) -> tuple[subprocess.Popen, str]:
    """Headless Chromium with its DevTools on 127.0.0.1 (an ephemeral port, read back from its profile dir)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        raise SystemExit("error: no chromium on the PATH; install it: apt-get install -y chromium")
    proc = subprocess.Popen(
        [exe, "--headless", "--no-sandbox", "--hide-scrollbars", "--enable-unsafe-swiftshader",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", f"--user-data-dir={profile}",
         "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    port_file = profile / "DevToolsActivePort"
    for _ in range(300):
        if port_file.is_file() and port_file.read_text().count("\n") >= 1:
            return proc, port_file.read_text().split()[0]
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("error: chromium did not open its DevTools port within 30 s")


def shoot(page: Page, url: str, width: int, height: int, out: Path) -> None:
    from PIL import Image

    page.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
    page.call("Page.navigate", url=url)
    time.sleep(WAIT)
    png = base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"])
    # 256 colours: a UI of flat colours and thin lines loses nothing visible, and the file a good deal
    Image.open(io.BytesIO(png)).convert("RGB").quantize(256).save(out, optimize=True)
    print(f"{out}  {width}x{height}  {out.stat().st_size // 1024} KB  <- {url}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("logdir", type=Path, help="the logs dir to show (a day's worth of runs)")
    parser.add_argument("--out", type=Path, default=Path("docs/figures/tensorboard"))
    parser.add_argument("--run", default="", help="the run Custom Scalars is filtered to (a regex)")
    args = parser.parse_args(argv)
    if not args.logdir.is_dir():
        parser.error(f"{args.logdir}: no such directory")
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    os.chdir(args.logdir.resolve().parent)  # TensorBoard shows the logs dir as named: "logs", as users start it
    base = serve(Path(args.logdir.resolve().name))
    with tempfile.TemporaryDirectory() as profile:
        proc, port = chromium(Path(profile))
        try:
            targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30))
            page = Page(next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page"))
            for name, path, width, height in SHOTS:
                shoot(page, f"{base}/{path.format(run=urllib.parse.quote(args.run))}", width, height, args.out / name)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
