"""Reading one file in a fresh process: the reader's items and its peak RSS, for the bomb tests."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pipelines

_MEASURE = r"""
import json, resource, sys
from pipelines.sources import READERS, FileContext, Quarantined, Rejected
path, fmt, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
ctx = FileContext("bomb", fmt, path, path.rsplit("/", 1)[-1], options)
items = []
with open(path, "rb") as raw:
    for item in READERS[fmt](raw, ctx):
        if isinstance(item, Quarantined):
            items.append({"kind": "quarantine", "offset": item.offset, "error": item.error, "message": item.message})
        elif isinstance(item, Rejected):
            items.append({"kind": "reject", "offset": item.doc["offset"], "reason": item.reason,
                          "detail": item.detail, "title": item.doc["title"], "url": item.doc["url"]})
        else:
            items.append({"kind": "doc", "offset": item["offset"], "title": item["title"], "url": item["url"],
                          "text": (item.get("text") or "")[:100],
                          "size": len(item.get("content") or item.get("text") or "")})
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"items": items, "rss_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime}))
"""


def measure(path: Path, fmt: str, doc_fields: tuple = ("title", "text"), **options) -> dict:
    """Read `path` with READERS[fmt] in a fresh process: its items (documents with `kind`, `offset` and
    `doc_fields` of "title", "url", "text" (its first 100 characters) and "size"), peak RSS (MB) and CPU
    seconds."""
    # The package the tests imported, whichever copy that is.
    env = {**os.environ, "PYTHONPATH": str(Path(pipelines.__file__).resolve().parents[1])}
    # Linux carries the high-water RSS of the image an exec replaces into ru_maxrss, so a child
    # exec'ed straight from pytest would report pytest's size; sh forks it from a small process.
    run = subprocess.run(["sh", "-c", '"$0" "$@"; exit $?', sys.executable, "-c", _MEASURE, str(path), fmt,
                          json.dumps(options)], cwd=path.parent, env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.splitlines()[-1])
    keep = {"kind", "offset", *doc_fields}
    result["items"] = [{k: v for k, v in item.items() if k in keep} if item["kind"] == "doc" else item
                       for item in result["items"]]
    return result
