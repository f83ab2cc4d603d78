"""Boilerplate lines, C4 style: lines in more than N documents go; the rest of each page stays."""

from collections import Counter

from conftest import curate, read_rows
from dedup.lines import distinct_line_keys, line_key, strip_lines


def test_strip_lines():
    common = {line_key("Home | About"), line_key("Accept cookies")}
    text = "Home | About\nThe article begins here.\n  ACCEPT COOKIES  \n\nIt ends here."
    assert strip_lines(text, common) == ("The article begins here.\n\nIt ends here.", 2)
    assert distinct_line_keys("a\na\n\nb") == {line_key("a"), line_key("b")}


def test_navigation_lines_of_the_debian_reference_go(tmp_path, data_dir):
    out = tmp_path / "run"
    glob = str(data_dir / "debian_reference_html" / "en" / "*.html")
    result = curate(out, [{"name": "debian", "glob": glob}], filters="none", dedup="none", boilerplate_lines=5,
                    pii=False)
    assert result.problems == []
    docs = read_rows(out, "documents")
    removed = sum(d["signals"]["boilerplate_lines"] for d in docs)
    assert len(docs) == 15 and removed >= 2 * len(docs)  # the shared menus and footers, on every page
    # No line that survives is shared by more than five of the fifteen pages.
    counts = Counter(k for d in docs for k in distinct_line_keys(d["text"]))
    assert max(counts.values()) <= 5


def test_a_page_with_more_mirrors_than_the_limit_keeps_one_copy(tmp_path, data_dir):
    """Lines are counted over distinct documents (the stage runs after dedup): a page mirrored 7 times,
    with a limit of 5, keeps one copy with its own lines, rather than losing every copy."""
    pages = sorted((data_dir / "debian_reference_html" / "en").glob("*.html"))
    mirrors = tmp_path / "mirrors"
    mirrors.mkdir()
    for i in range(6):  # with the original: 7 copies
        (mirrors / f"copy-{i}.html").write_bytes(pages[0].read_bytes())
    out = tmp_path / "run"
    result = curate(out, [{"name": "debian", "glob": str(pages[0].parent / "*.html")},
                          {"name": "mirrors", "glob": str(mirrors / "*.html")}],
                    filters="none", dedup="exact", boilerplate_lines=5, pii=False)
    assert result.problems == []
    rejects = read_rows(out, "rejects")
    assert Counter(r["reason"] for r in rejects) == {"exact_duplicate": 6}
    kept = {r["duplicate_of"] for r in rejects}
    (page,) = [d for d in read_rows(out, "documents") if d["id"] in kept]
    copy = rejects[0]
    # It lost only the lines common to the other pages (navigation), not its content.
    assert 0 < page["signals"]["boilerplate_lines"] < 30 and len(page["text"]) > len(copy["text"]) / 2
