"""tests/data, the excerpts the tests read when the shared corpora are not beside the clone: small,
described, and what tests/data/make_fixtures.py makes from the shared data."""

import subprocess
import sys

from conftest import DATA_DIR, FIXTURES, FULL_DATA, REPO

sys.path.insert(0, str(FIXTURES))
from make_fixtures import SUMS, checksums  # noqa: E402


def test_every_excerpt_is_small_and_described():
    files = [p for p in FIXTURES.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert sum(p.stat().st_size for p in files) < 5 << 20  # a few MB, never whole corpora
    readme = (FIXTURES / "README.md").read_text()
    folders = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert folders and [name for name in folders if f"`{name}/" not in readme] == []


def test_the_excerpts_are_intact_and_what_make_fixtures_makes():
    """Every excerpt matches tests/data/SHA256SUMS (on any clone); where the shared corpora are
    beside it, make_fixtures.py also makes exactly these files from them."""
    recorded = (FIXTURES / SUMS).read_text()
    assert recorded and recorded == checksums(FIXTURES)
    if FULL_DATA:
        done = subprocess.run([sys.executable, str(FIXTURES / "make_fixtures.py"), "--check", "--source", str(DATA_DIR)],
                              cwd=REPO, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
