"""PII redaction: e-mail addresses and public IPv4 addresses as FineWeb replaces them, and phone
numbers, each counted per kind.

The e-mail and IPv4 patterns are FineWeb's (datatrove's PIIFormatter): an address becomes one of
two example.com/example.org addresses, a public IP one of six unused ones; private, loopback and
reserved IPs stay. datatrove cycles through the replacements with a counter that runs across
documents, so a document's text depends on the documents before it; here the replacement is chosen
by a hash of the matched text, so the same input always gives the same output.

Phone numbers are found with libphonenumber (the `phonenumbers` package) and must be valid numbers:
in international form anywhere, and in national form for the region of the document's language
where one is implied (en: US). They become a fixed placeholder.
"""

import ipaddress
import re
from dataclasses import dataclass, field

import xxhash

from filters.base import Decision

_EMAIL = re.compile(
    r"\b[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:(?:[A-Za-z0-9](?:[A-Za-z0-9-]*"
    r"[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?|\[(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}"
    r"(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?|[A-Za-z0-9-]*[A-Za-z0-9]:)])")
_IPV4 = re.compile(r"(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)")
# Every IPv4 match holds a digit, a dot and a digit. re jumps from digit to digit looking for this,
# where _IPV4 (which starts with a group) is tried at every character: 10 times slower.
_MAYBE_IPV4 = re.compile(r"[0-9]\.[0-9]")
# Seven digits within a short span: cheap evidence that a phone number might be there.
_MAYBE_PHONE = re.compile(r"\d(?:[\s().+/-]{0,3}\d){6}")
# Regions whose national number format a language implies (others: only +international numbers).
LANGUAGE_REGIONS = {"en": "US", "de": "DE", "fr": "FR", "es": "ES", "it": "IT", "nl": "NL", "pt": "BR", "ru": "RU",
                    "ja": "JP", "zh": "CN", "ko": "KR", "pl": "PL", "sv": "SE", "tr": "TR"}


def _pick(options: tuple[str, ...], matched: str) -> str:
    return options[xxhash.xxh64_intdigest(matched.encode()) % len(options)]


@dataclass
class PiiRedactor:
    redact_emails: bool = True
    redact_ips: bool = True
    only_public_ips: bool = True
    redact_phones: bool = True
    email_replacements: tuple = ("email@example.com", "firstname.lastname@example.org")
    ip_replacements: tuple = ("22.214.171.124", "126.96.36.199", "188.8.131.52", "184.108.40.206",
                              "220.127.116.11", "18.104.22.168")
    phone_replacement: str = "<PHONE>"
    regions: dict = field(default_factory=lambda: dict(LANGUAGE_REGIONS))

    name = "pii"
    signals = ("pii_emails", "pii_ips", "pii_phones")

    def redact(self, text: str, lang: str | None) -> tuple[str, dict]:
        counts = {"pii_emails": 0, "pii_ips": 0, "pii_phones": 0}
        if self.redact_emails and "@" in text:
            def email(match):
                counts["pii_emails"] += 1
                return _pick(tuple(self.email_replacements), match.group())
            text = _EMAIL.sub(email, text)
        if self.redact_ips and _MAYBE_IPV4.search(text):
            def ip(match):
                value = match.group()
                try:
                    if self.only_public_ips and not ipaddress.ip_address(value).is_global:
                        return value
                except ValueError:
                    return value
                counts["pii_ips"] += 1
                return _pick(tuple(self.ip_replacements), value)
            text = _IPV4.sub(ip, text)
        if self.redact_phones and _MAYBE_PHONE.search(text):
            text = self._redact_phones(text, lang, counts)
        return text, counts

    def _redact_phones(self, text: str, lang: str | None, counts: dict) -> str:
        import phonenumbers

        region = self.regions.get(lang)
        spans = [(m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(text, region or "ZZ",
                                                                             leniency=phonenumbers.Leniency.VALID)]
        for start, end in reversed(spans):
            text = text[:start] + self.phone_replacement + text[end:]
        counts["pii_phones"] += len(spans)
        return text

    def __call__(self, doc: dict) -> Decision:
        text, counts = self.redact(doc["text"], doc.get("lang"))
        return Decision(True, signals=counts, text=text if text != doc["text"] else None)
