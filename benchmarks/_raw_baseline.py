"""The raw baselines of ``csv_throughput.py``: the least Python that moves a report to stdout.

Streams the HTTP body (``requests``, the tap's HTTP client), reads it with the stdlib
``csv`` reader and writes ``json.dumps`` of each row, one per line. No types, no Singer
envelope, no SDK. Two shapes:

* ``lists`` (the target's basis, as the issue words it): each row as the JSON array
  ``csv.reader`` yields, a quarter of the bytes of a record and no keys;
* ``objects``: each row as a JSON object keyed by the header, the least a record is (a
  target cannot load a bare list).

Usage: ``python _raw_baseline.py objects|lists URL TOKEN INSTANCE GRANULARITY START END``
"""

from __future__ import annotations

import csv
import io
import json
import sys

import requests


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
        response.raw.decode_content = True
        lines = io.TextIOWrapper(response.raw, encoding="utf-8-sig", newline="")
        reader = csv.reader(lines)
        header = next(reader)
        write = sys.stdout.write
        dumps = json.dumps
        if shape == "objects":
            for row in reader:
                write(dumps(dict(zip(header, row, strict=True))))
                write("\n")
        else:
            for row in reader:
                write(dumps(row))
                write("\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
