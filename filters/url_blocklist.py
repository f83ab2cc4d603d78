"""URL blocklist: listed domains (with their subdomains) and EasyList-style rules (Adblock Plus
syntax), both from configurable files.

A document is dropped when its URL's host is a listed domain or a subdomain of one, or when an
EasyList rule blocks its URL as a page ("document" request); the rules are matched by Brave's
adblock-rust engine (the `braveblock` package). Documents without a URL are not judged. Lists are
read when first needed on each worker, so their paths must be readable there.
"""

import gzip
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from filters.base import Decision


def _lines(path: str) -> list[str]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        return [line.strip() for line in fh]


def parent_domains(host: str) -> list[str]:
    """www.ads.example.com -> [www.ads.example.com, ads.example.com, example.com, com]."""
    parts = host.split(".")
    return [".".join(parts[i:]) for i in range(len(parts))]


@dataclass
class UrlBlocklist:
    domain_files: list = field(default_factory=list)
    rule_files: list = field(default_factory=list)

    name = "url_blocklist"
    signals = ("url_blocked",)

    def __post_init__(self):
        self._domains: frozenset | None = None
        self._rules = None

    def __getstate__(self):  # the lists are loaded again on each worker
        return {k: v for k, v in self.__dict__.items() if k not in ("_domains", "_rules")}

    def __setstate__(self, state):
        self.__dict__.update(state, _domains=None, _rules=None)

    def _load(self) -> None:
        import braveblock

        domains = {line.lower().lstrip(".") for path in self.domain_files for line in _lines(path)
                   if line and not line.startswith("#")}
        self._domains = frozenset(domains)
        rules = [line for path in self.rule_files for line in _lines(path)]
        self._rules = braveblock.Adblocker(rules=rules) if rules else None

    def blocked_by(self, url: str) -> tuple[str, str] | None:
        """(rule, detail) that blocks the URL, or None."""
        if self._domains is None:
            self._load()
        host = (urlsplit(url).hostname or "").lower()
        for domain in parent_domains(host) if host else ():
            if domain in self._domains:
                return "domains", f"{host} is listed as {domain}"
        if self._rules is not None and self._rules.check_network_urls(url=url, source_url=url,
                                                                      request_type="document"):
            return "rules", f"an EasyList rule blocks {url[:200]}"
        return None

    def __call__(self, doc: dict) -> Decision:
        url = doc.get("url")
        if not url:
            return Decision(True, signals={"url_blocked": None})
        blocked = self.blocked_by(url)
        if blocked:
            return Decision(False, f"{self.name}.{blocked[0]}", blocked[1], {"url_blocked": True})
        return Decision(True, signals={"url_blocked": False})
