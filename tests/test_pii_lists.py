"""PII redaction, LDNOOBW bad words and the URL blocklist."""

import pickle

import pytest

from filters.badwords import BadWords
from filters.normalise import normalise_text
from filters.pii import PiiRedactor
from filters.presets import load_preset
from filters.url_blocklist import UrlBlocklist
from pipelines.sources import READERS, FileContext


def doc(text, lang="en", url=None):
    return {"text": text, "lang": lang, "url": url}


def test_pii_redacts_each_kind_and_counts_it():
    text = ("Write to jane.doe@university.edu or admin@[192.168.0.1]. The server at 8.8.8.8 answered, "
            "the router at 192.168.1.1 did not. Call (212) 555-0142 or +44 20 7946 0958 today.")
    out, counts = PiiRedactor().redact(text, "en")
    assert counts == {"pii_emails": 2, "pii_ips": 1, "pii_phones": 2}
    assert "jane.doe" not in out and "8.8.8.8" not in out and "555-0142" not in out and "7946" not in out
    assert "192.168.1.1" in out  # private addresses are not personal information
    assert out.count("<PHONE>") == 2


def test_pii_replacements_do_not_depend_on_other_documents():
    redactor = PiiRedactor()
    first, _ = redactor.redact("a@b.com and 8.8.8.8", "en")
    redactor.redact("x@y.org, z@w.net, 1.1.1.1, 9.9.9.9", "en")  # datatrove's counter would move on here
    again, _ = redactor.redact("a@b.com and 8.8.8.8", "en")
    assert first == again


def test_pii_leaves_numbers_that_are_not_phones():
    text = "The table lists 1234567 rows; version 3.14.159 came out in 2024-06-01, ISBN 978-0-14-143951-8."
    out, counts = PiiRedactor().redact(text, "en")
    assert counts["pii_phones"] == 0 and out == text


@pytest.fixture
def badwords(data_dir):
    return BadWords(lists_dir=str(data_dir / "ldnoobw"))


def test_badwords_match_whole_words_in_spaced_languages(badwords):
    assert badwords.count("What a shit day; SHIT, again.", "en") == 2
    assert badwords.count("Scunthorpe is a town; class assessment is due; shitake.", "en") == 0  # whole words only
    decision = badwords(doc("Well, shit."))
    assert (decision.keep, decision.reason, decision.signals) == (False, "badwords.max_badwords", {"badwords": 1})


def test_badwords_match_substrings_without_spaces_and_keep_the_allowlist(badwords, data_dir):
    listed = [w.strip() for w in (data_dir / "ldnoobw" / "zh").read_text(encoding="utf-8").splitlines()
              if w.strip() and w.strip() != "性"]
    assert badwords.count(f"这是一个{listed[0]}的例子", "zh") == 1
    assert badwords.count("他的性格很好，性别不重要。", "zh") == 0  # 性 alone is an innocent subword
    assert badwords(doc("text", lang="xx")).signals == {"badwords": None}  # no list: abstains


def test_badwords_read_each_languages_list(badwords, data_dir, tmp_path):
    """Each language's own file, case-insensitively, whole words: every Klingon word listed is found once
    in a Klingon sentence and not in an English one; lid.176's tl and nb read the files named fil and no."""
    klingon = [w.strip() for w in (data_dir / "ldnoobw" / "tlh").read_text(encoding="utf-8").splitlines() if w.strip()]
    assert klingon
    for word in klingon:
        assert badwords.count(f"nuqneH, {word}!", "tlh") == 1
        assert badwords.count(f"nuqneH, {word.upper()} {word.lower()}.", "tlh") == 2
        assert badwords.count(f"nuqneH, {word}!", "en") == 0
    assert badwords.count("tlhIngan Hol Dajatlh'a'?", "tlh") == 0
    (tmp_path / "fil").write_text("tanga\n", encoding="utf-8")
    (tmp_path / "no").write_text("dust\n", encoding="utf-8")
    renamed = BadWords(lists_dir=str(tmp_path))
    assert renamed.count("Ang tanga mo.", "tl") == renamed.count("Ang tanga mo.", "fil") == 1
    assert renamed.count("Du er en dust.", "nb") == renamed.count("Du er en dust.", "no") == 1
    assert renamed.count("Ang tanga mo.", "en") is None  # no file named en here: abstains


def test_badwords_survive_pickling(badwords):
    assert badwords.count("shit happens", "en") == 1  # builds an automaton
    clone = pickle.loads(pickle.dumps(badwords))
    assert clone.count("shit happens", "en") == 1


def test_url_blocklist_domains_and_easylist(tmp_path, data_dir):
    domains = tmp_path / "domains.txt"
    domains.write_text("# casinos\nbad-casino.example\n")
    blocklist = UrlBlocklist(domain_files=[str(domains)],
                             rule_files=[str(data_dir / "easylist_url_blocklist" / "easylist.txt.gz")])
    assert blocklist(doc("x", url="https://www.bad-casino.example/poker")).reason == "url_blocklist.domains"
    assert blocklist(doc("x", url="https://ad.doubleclick.net/page")).reason == "url_blocklist.rules"
    kept = blocklist(doc("x", url="https://en.wikipedia.org/wiki/Anarchism"))
    assert kept.keep and kept.signals == {"url_blocked": False}
    assert blocklist(doc("x")).signals == {"url_blocked": None}
    assert pickle.loads(pickle.dumps(blocklist))(doc("x", url="https://doubleclick.net/")).reason == \
        "url_blocklist.rules"


def ccnet_pages(data_dir) -> list[dict]:
    """The CCNet pages of cc_en_head-0091 (real web text), normalised as curation does, in English."""
    path = data_dir / "ccnet_jsonl_dolma" / "cc_en_head-0091.jsonl.gz"
    with open(path, "rb") as raw:
        docs = list(READERS["jsonl"](raw, FileContext("web", "jsonl", str(path), path.name)))
    return [{**d, "text": normalise_text(d["text"]), "lang": "en"} for d in docs]


def test_web_preset_reads_lists_from_data_dir(monkeypatch, data_dir):
    """The web preset's lists are the data folder's, and they act on real pages: the chain keeps a CCNet page
    (100women.ng) and drops it once a listed word is in it or its URL is an EasyList ad server; a page
    on Dick Cheney (911blogger.com) is dropped by C4's word rule, its known false positive."""
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    spec, chain = load_preset("web")
    assert [f.name for f in chain.filters][0] == "url_blocklist" and chain.filters[-1].name == "badwords"
    assert chain.filters[-1].lists_dir == str(data_dir / "ldnoobw")
    pages = ccnet_pages(data_dir)
    kept, cheney = pages[1], pages[3]
    assert kept["url"].startswith("http://100women.ng/") and cheney["url"].startswith("http://911blogger.com/")
    decision = chain(kept)
    assert decision.keep and decision.signals["badwords"] == 0 and decision.signals["url_blocked"] is False
    decision = chain({**kept, "text": kept["text"] + " What a shit year."})
    assert (decision.keep, decision.reason, decision.signals["badwords"]) == (False, "badwords.max_badwords", 1)
    decision = chain({**kept, "url": "https://ad.doubleclick.net/ddm/trackclk"})
    assert (decision.keep, decision.reason) == (False, "url_blocklist.rules")
    decision = chain(cheney)
    assert (decision.keep, decision.reason, decision.signals["badwords"]) == (False, "badwords.max_badwords", 4)
