"""The embedded demo corpus: CPython's own documentation as a crawl, built offline on any machine.

    python -m pipelines.demo_corpus --output data/demo

The text is real and written by others: the reference topics of `pydoc_data` and the docstrings of
the standard library, rendered to HTML by pydoc and packed with warcio into a gzipped WARC of
HTTP responses, so the WARC -> HTML -> text path runs. From those pages it derives what a real
crawl holds, so that every stage visibly acts:

- mirrors: the same page at a second URL (exact dedup);
- a Latin-1 copy served with its charset, and a mojibake copy (UTF-8 read as cp1252), which
  extraction and ftfy turn back into the original text (exact dedup after normalisation);
- near copies with a few words dropped (kept now; MinHash near-dedup removes them);
- junk: link-only index pages (language ID cannot tell what a list of names is), script-only
  pages (no text to extract), a 404 and an image response (read-time rejects), and a truncated
  copy of the archive (quarantine). Short and code-heavy pages fall to the quality filter.

Every choice is seeded, and record ids and dates are fixed, so the same Python gives the same bytes.
"""

import argparse
import contextlib
import hashlib
import importlib
import io
import json
import os
import pydoc
import random
import re
import sys
import uuid
import warnings
from pathlib import Path

import ftfy.bad_codecs  # noqa: F401  registers sloppy-windows-1252
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

SEED = 1234
# Default values that are os.environ print the builder's whole environment.
_ENVIRON = re.compile(r"environ\(\{.*?\}\)", re.DOTALL)
_ADDRESS = re.compile(r"(?:\s|&nbsp;)at(?:\s|&nbsp;)0x[0-9a-f]+")
BASE = "https://docs.python.local/3/"
DATE = "2026-01-01T00:00:00Z"
# Modules whose import has side effects (a browser, a GUI, printing) or that are platform-specific.
_SKIP = {"antigravity", "this", "idlelib", "turtle", "turtledemo", "tkinter", "msvcrt", "winreg", "winsound",
         "nt", "_winapi", "ensurepip", "venv", "distutils", "lib2to3", "pydoc_data", "test", "xxsubtype", "__hello__",
         "__phello__", "sre_compile", "sre_constants", "sre_parse", "nturl2path", "msilib", "_msi"}


def _stdlib_modules() -> list:
    """The standard library's modules as this Python ships them. A name that an installed package
    shadows (setuptools' `distutils`) is left out: its page would depend on what the venv holds and
    name the venv's path."""
    stdlib = os.path.dirname(os.__file__) + os.sep
    modules = []
    for name in sorted(sys.stdlib_module_names):
        if name.startswith("_") or name in _SKIP:
            continue
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                module = importlib.import_module(name)
        except Exception:  # not built on this platform
            continue
        if getattr(module, "__file__", None) is None or module.__file__.startswith(stdlib):
            modules.append(module)
    return modules


def topic_pages() -> list[tuple[str, str]]:
    """(url, html) for each pydoc reference topic."""
    from pydoc_data.topics import topics

    html = pydoc.HTMLDoc()
    pages = []
    for key in sorted(topics):
        body = html.bigsection(key, "index", "<pre>%s</pre>" % html.markup(topics[key]))
        pages.append((f"{BASE}reference/{key}.html", html.page(f"Topic {key}", html.heading(key) + body)))
    return pages


class _DocWithoutData(pydoc.HTMLDoc):
    """pydoc without the values of module data: they are process state (sys.argv, os.environ),
    which would make the corpus differ between runs and leak the builder's environment. Module pages
    link to the online docs at a fixed address, whatever PYTHONDOCS says."""

    PYTHONDOCS = "https://docs.python.org/%d.%d/library" % sys.version_info[:2]

    def docother(self, object, name=None, mod=None, *ignored):
        return "<strong>%s</strong>" % self.escape(name or "")


def module_pages() -> list[tuple[str, str]]:
    html = _DocWithoutData()
    pages = []
    for module in _stdlib_modules():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                page = html.page(pydoc.describe(module), html.document(module, module.__name__))
            except Exception:
                continue
        # pydoc links source files by absolute path and prints default values with their memory
        # address; keep pages independent of where Python lives and of the process.
        page = page.replace(os.path.dirname(os.__file__), "/usr/lib/python3")
        page = page.replace(sys.executable, "/usr/bin/python3").replace(sys.prefix, "/usr")  # defaults
        page = page.replace("scheme=&#x27;venv&#x27;", "scheme=&#x27;posix_prefix&#x27;")  # in a venv or not
        page = page.replace("scheme='venv'", "scheme='posix_prefix'")
        page = _ADDRESS.sub(" at 0x0", page)
        page = _ENVIRON.sub("os.environ", page)
        pages.append((f"{BASE}library/{module.__name__}.html", page))
    return pages


def _response(writer: WARCWriter, url: str, body: bytes, content_type: str = "text/html; charset=utf-8",
              status: str = "200 OK") -> None:
    http = StatusAndHeaders(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))],
                            protocol="HTTP/1.1")
    record_id = f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, url + content_type + status)}>"
    record = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http,
                                       warc_headers_dict={"WARC-Date": DATE, "WARC-Record-ID": record_id})
    writer.write_record(record)


def _drop_words(html: str, rng: random.Random, rate: float) -> str:
    """A near copy: drop a few words from the text between tags."""
    out = []
    for part in html.split(">"):
        text, sep, tag = part.partition("<")
        words = text.split(" ")
        kept = [w for w in words if not w.strip() or rng.random() > rate]
        out.append(" ".join(kept) + sep + tag)
    return ">".join(out)


def _index_page(title: str, names: list[str]) -> str:
    html = pydoc.HTMLDoc()
    links = html.multicolumn(names, lambda n: f'<a href="{n}.html">{n}</a>')
    return html.page(title, html.heading(title) + links)


def build(output: Path) -> dict:
    os.environ.pop("PYTHONDOCS", None)  # pydoc prefers it to the class's address
    rng = random.Random(SEED)
    topics, modules = topic_pages(), module_pages()
    pages = topics + modules
    output.mkdir(parents=True, exist_ok=True)
    warc_path = output / "pydoc.warc.gz"
    counts = {"topics": len(topics), "modules": len(modules)}
    with open(warc_path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for url, page in pages:
            _response(writer, url, page.encode("utf-8"))
        sample = rng.sample(pages, k=len(pages) // 10)
        for url, page in sample:  # mirrors
            _response(writer, url.replace("docs.python.local", "mirror.python.local"), page.encode("utf-8"))
        latin = [(u, p) for u, p in rng.sample(pages, k=len(pages) // 20) if _encodes(p, "latin-1")]
        for url, page in latin:
            _response(writer, url.replace("/3/", "/3-latin1/"), page.encode("latin-1"),
                      "text/html; charset=iso-8859-1")
        mojibake = [(u, p) for u, p in pages if not p.isascii()][:10]
        for url, page in mojibake:
            # ftfy's sloppy cp1252 keeps the five bytes cp1252 leaves undefined, as browsers do, so
            # every byte survives and the repair is exact.
            broken = page.encode("utf-8").decode("sloppy-windows-1252")
            _response(writer, url.replace("/3/", "/3-mojibake/"), broken.encode("utf-8"))
        near = rng.sample(pages, k=len(pages) // 10)
        for url, page in near:
            _response(writer, url.replace("/3/", "/3-draft/"), _drop_words(page, rng, 0.03).encode("utf-8"))
        module_names = sorted(u.rsplit("/", 1)[1][:-5] for u, _ in modules)
        for start in range(0, len(module_names), 60):  # link-only index pages
            chunk = module_names[start:start + 60]
            _response(writer, f"{BASE}library/index-{start // 60}.html",
                      _index_page(f"Modules {chunk[0]} to {chunk[-1]}", chunk).encode("utf-8"))
        for url, page in rng.sample(pages, k=5):  # pages whose text arrives only by script
            script = "<html><head><title>Loading</title></head><body><script>document.write(%r)</script></body></html>"
            _response(writer, url.replace("/3/", "/3-app/"), (script % url).encode("utf-8"))
        _response(writer, f"{BASE}library/missing.html", pydoc.html.page("Not found", pydoc.html.heading(
            "No Python documentation found for 'missing'")).encode("utf-8"), status="404 Not Found")
        icon = Path(os.path.dirname(os.__file__)) / "idlelib" / "Icons" / "idle_48.png"
        if icon.exists():
            _response(writer, f"{BASE}_static/python-logo.png", icon.read_bytes(), "image/png")
        counts.update(mirrors=len(sample), latin1=len(latin), mojibake=len(mojibake), near=len(near))
    # A crawl cut off mid-record: the first records read, then the rest is quarantined.
    data = warc_path.read_bytes()
    (output / "pydoc-truncated.warc.gz").write_bytes(data[: len(data) // 50])
    counts["sha256"] = hashlib.sha256(data).hexdigest()
    return counts


def _encodes(text: str, codec: str) -> bool:
    try:
        text.encode(codec)
        return True
    except UnicodeEncodeError:
        return False


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default="data/demo")
    args = parser.parse_args(argv)
    counts = build(Path(args.output))
    print(json.dumps({"output": args.output, **counts}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
