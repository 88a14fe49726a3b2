"""Serve one file as the body of every GET: as fast as the kernel sends it, or paced.

``csv_throughput.py`` points the tap at this server to measure the tap's parse time alone
(the report, saved once from the fake API, arrives at memory speed, so the tap's wall time
is its own work), and, paced at a given rate, to model a download as slow as that parse:
then parsing while downloading takes the larger of the two, spooling first their sum.
Prints ``{"url": ...}`` when serving; stops on SIGTERM.

Usage: ``python _file_server.py FILE [BYTES_PER_SECOND]``
"""

from __future__ import annotations

import json
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BLOCK_BYTES = 1 << 16


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body: Path
    bytes_per_second = 0.0  # 0: unpaced

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/csv; charset=utf-8")
        self.send_header("Content-Length", str(self.body.stat().st_size))
        self.end_headers()
        self.wfile.flush()
        with self.body.open("rb") as file:
            if not self.bytes_per_second:
                self.connection.sendfile(file)
                return
            started, sent = time.monotonic(), 0
            while block := file.read(BLOCK_BYTES):
                self.wfile.write(block)
                sent += len(block)
                ahead = started + sent / self.bytes_per_second - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        pass


def main() -> int:
    _Handler.body = Path(sys.argv[1])
    if len(sys.argv) > 2:
        _Handler.bytes_per_second = float(sys.argv[2])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(json.dumps({"url": f"http://127.0.0.1:{server.server_address[1]}"}), flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
