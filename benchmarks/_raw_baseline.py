"""The raw baselines of ``csv_throughput.py``: the least Python that moves a report to stdout.

Streams the HTTP body (``requests``, the tap's HTTP client), reads it with the stdlib
``csv`` reader and writes ``orjson.dumps`` of each row, one per line. No types, no Singer
envelope, no SDK. Shapes:

* ``objects`` (the target's basis): each row as a JSON object keyed by the header, the
  least a record is;
* ``lists``: each row as the JSON array ``csv.reader`` yields, a quarter of the bytes of
  a record and no keys (not a record: a target cannot load a bare list; reported);
* ``download``: the body read and thrown away, nothing parsed (the download time).

Usage: ``python _raw_baseline.py objects|lists|download URL TOKEN INSTANCE GRANULARITY START END``
"""

from __future__ import annotations

import csv
import io
import sys

import requests

try:
    import orjson
except ImportError:  # pragma: no cover - a setup problem, said in one line
    sys.exit("the raw baseline needs orjson: pip install --group bench (or: pip install orjson)")

CHUNK_BYTES = 1 << 20


def main() -> int:
    shape, url, token, instance, granularity, start, end = sys.argv[1:8]
    params = {
        "instanceURL": instance,
        "granularity": granularity,
        "startDate": start,
        "endDate": end,
    }
    headers = {"Authorization": f"Bearer {token}"}
    with requests.get(url, params=params, headers=headers, stream=True, timeout=300) as response:
        response.raise_for_status()
        if shape == "download":
            for _ in response.iter_content(CHUNK_BYTES):
                pass
            return 0
        response.raw.decode_content = True
        lines = io.TextIOWrapper(response.raw, encoding="utf-8-sig", newline="")
        reader = csv.reader(lines)
        header = next(reader)
        write = sys.stdout.buffer.write
        dumps = orjson.dumps
        newline = orjson.OPT_APPEND_NEWLINE
        if shape == "objects":
            for row in reader:
                write(dumps(dict(zip(header, row, strict=True)), option=newline))
        else:
            for row in reader:
                write(dumps(row, option=newline))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
