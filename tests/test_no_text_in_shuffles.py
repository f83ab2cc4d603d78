"""Documents cross no shuffle: every buffer the in-memory runner groups (or passes between stages) is
searched for a word that only the documents' text holds."""

import json
import random

import pytest
from apache_beam.runners.portability.fn_api_runner import execution

from conftest import curate, read_rows

MARKER = "Qzxvbnmarker"


@pytest.fixture
def buffers(monkeypatch):
    """Which kinds of runner buffers received bytes holding MARKER."""
    seen = set()
    for cls in (execution.GroupingBuffer, execution.WindowGroupingBuffer, execution.ListBuffer):
        original = cls.append

        def append(self, data, original=original, name=cls.__name__):
            if MARKER.encode() in bytes(data):
                seen.add(name)
            return original(self, data)

        monkeypatch.setattr(cls, "append", append)
    return seen


def _corpus(folder, data_dir, n=400):
    """JSONL documents of real prose, each with MARKER, some exact and near copies among them."""
    words = (data_dir / "gutenberg_en" / "1342-0.txt").read_text(encoding="utf-8-sig").split()
    rng = random.Random(3)
    docs = []
    for i in range(n):
        if i % 10 == 9:  # a copy of an earlier document, one word changed every other time
            text = docs[rng.randrange(len(docs))].split()
            if i % 20 == 9:
                text[rng.randrange(len(text))] = "changed"
            docs.append(" ".join(text))
            continue
        start = rng.randrange(len(words) - 400)
        body = words[start:start + 300]
        docs.append(f"{MARKER} " + " ".join(body[:150]) + "\n\n" + " ".join(body[150:]) + f" {MARKER}.")
    path = folder / "docs.jsonl"
    path.write_text("".join(json.dumps({"text": t, "url": f"https://example.com/{i}"}) + "\n" for i, t in enumerate(docs)))
    return path


@pytest.mark.parametrize("settings", [{}, {"boilerplate_lines": 5, "dedup_verify": "exact"}])
def test_no_document_text_enters_a_runner_buffer(tmp_path, data_dir, buffers, settings):
    path = _corpus(tmp_path, data_dir)
    out = tmp_path / "run"
    result = curate(out, [{"name": "prose", "type": "jsonl", "glob": str(path)}], **settings)
    assert result.problems == []
    assert buffers == set(), f"document text went through {buffers}"
    kept, rejects = read_rows(out, "documents"), read_rows(out, "rejects")
    assert len(kept) + len(rejects) == 400 and all(MARKER in r["text"] for r in kept)
    assert {r["stage"] for r in rejects} >= {"exact_dedup", "near_dedup"}
    assert not (out / "_work").exists()  # the working files go once the run has succeeded
