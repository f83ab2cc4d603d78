"""report.html from the summary: a static page, no script, every document text escaped.

The page also forbids scripts through its Content-Security-Policy, so text from documents cannot
run even if escaping were ever missed. Control characters from documents, urls and source names are
shown as visible escapes (`\\u202e`, `\\x07`), never as themselves: a bidirectional override would
reorder what follows it on screen (a source name or url read backwards), and NUL, BEL and the like
are invisible or break the page. Text shown as text keeps its tabs and newlines.
"""

import html
import json

_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1180px;color:#222}
h1{font-size:22px}h2{margin-top:36px;border-bottom:1px solid #ccc}table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:right;vertical-align:top}td:first-child,th:first-child{text-align:left}
td:has(>.l){text-align:left}img{max-width:100%;display:block;margin:8px 0}pre{white-space:pre-wrap;background:#f6f6f6;
padding:8px;margin:4px 0;font-size:12px;max-height:260px;overflow:auto}.cols{display:flex;gap:12px}.cols>div{flex:1;min-width:0}
.muted{color:#777}.grid{display:grid;grid-template-columns:repeat(3,1fr);gap:14px}.grid h3{font-size:13px;margin:4px 0}
.grid p{font-size:12px;margin:2px 0}details{margin:6px 0}summary{cursor:pointer}"""


# The bidirectional controls: embeddings, overrides, isolates, and the implicit marks.
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_CONTROLS = "".join(map(chr, [*range(0x20), 0x7F, *range(0x80, 0xA0)])) + _BIDI  # C0, DEL, C1 and those


def _shown(c: str) -> str:
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"


_ONE_LINE = str.maketrans({c: _shown(c) for c in _CONTROLS})
_AS_TEXT = str.maketrans({c: _shown(c) for c in _CONTROLS if c not in "\t\n"})


def visible(value, as_text: bool = False) -> str:
    """`value` with every control character written as a visible escape; `as_text` keeps tabs and
    newlines (a CRLF becomes a newline)."""
    value = "" if value is None else str(value)
    if as_text:
        return value.replace("\r\n", "\n").translate(_AS_TEXT)
    return value.translate(_ONE_LINE)


def esc(value) -> str:
    """A value for the page's markup or an attribute: controls made visible, then HTML-escaped."""
    return html.escape(visible(value), quote=True)


def esc_text(value) -> str:
    """Text shown as text (in <pre>): as esc, but its tabs and newlines are kept."""
    return html.escape(visible(value, as_text=True), quote=True)


def _mb(n) -> str:
    return f"{(n or 0) / 1e6:.2f}"


def _table(headers, rows, attrs=None) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        extra = attrs[i] if attrs else ""
        body.append(f"<tr{extra}>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _img(folder: str, name: str, alt: str) -> str:
    return f'<img src="{esc(folder)}/{esc(name)}" alt="{esc(alt)}">'


def funnel_section(s: dict, folder: str, plots: dict) -> str:
    rows, attrs = [], []
    for st in s["stages"]:
        dropped = {**st["rejected"], **{f"quarantined:{k}": v for k, v in st["quarantined"].items()}}
        reasons = "<br>".join(f"{esc(r)}: {n}" for r, n in sorted(dropped.items(), key=lambda kv: -kv[1])) or "-"
        rows.append([esc(st["stage"]), st["in"], st["out"], _mb(st.get("in_bytes")), _mb(st.get("out_bytes")),
                     sum(dropped.values()), f'<span class="l">{reasons}</span>'])
        attrs.append(f' data-stage="{esc(st["stage"])}" data-in="{st["in"]}" data-out="{st["out"]}" '
                     f'data-dropped="{sum(dropped.values())}"')
    t = s["totals"]
    totals = (f'<p id="totals" data-records="{t["records"]}" data-kept="{t["kept"]}" data-rejected="{t["rejected"]}" '
              f'data-quarantined="{t["quarantined"]}">{t["records"]} records read from {t["files"]} files: '
              f'{t["kept"]} kept, {t["rejected"]} rejected, {t["quarantined"]} quarantined.</p>')
    return ("<h2>Funnel</h2>" + totals
            + _table(["stage", "documents in", "out", "MB in", "MB out", "dropped", "by reason"], rows, attrs)
            + _img(folder, plots["funnel"], "documents and bytes per stage"))


def language_section(s: dict, folder: str, plots: dict) -> str:
    identified, kept = s["languages"]["identified"], s["languages"]["kept"]
    names = sorted(set(identified) | set(kept), key=lambda k: (-identified.get(k, kept.get(k, {})).get("documents", 0), k))
    rows = [[esc(n), identified.get(n, {}).get("documents", 0), _mb(identified.get(n, {}).get("bytes")),
             kept.get(n, {}).get("documents", 0), _mb(kept.get(n, {}).get("bytes"))] for n in names]
    return ("<h2>Languages</h2><p>After language ID (before the quality filters) and in the output.</p>"
            + _table(["language", "documents after LID", "MB", "documents kept", "MB"], rows)
            + _img(folder, plots["languages"], "languages before and after filtering"))


def signal_section(s: dict, folder: str, plots: dict) -> str:
    parts = ["<h2>Quality signals</h2><p>Over every document the quality filters saw; dashed lines are the "
             "thresholds that removed documents, with the share of those documents each removed.</p><div class=\"grid\">"]
    for name, fig in s["signals"].items():
        rules = "; ".join(f"{esc(t['reason'])} {esc(t['op'])} {esc(t['threshold'])}: {t['removed']} removed "
                          f"({100 * t['share_removed']:.1f}%)" for t in fig["thresholds"]) or "no document removed"
        parts.append(f"<div><h3>{esc(name)}</h3><p class=\"muted\">{esc(fig['meaning'])}. {rules}</p>"
                     + _img(folder, plots["signals"][name], name) + "</div>")
    return "".join(parts) + "</div>"


def dedup_section(s: dict, folder: str, plots: dict) -> str:
    d = s["dedup"]
    parts = [f"<h2>Deduplication</h2><p>{d['entering']} documents entered dedup; "
             f"{d['removed']['exact_dedup']} exact and {d['removed']['near_dedup']} near duplicates removed "
             f"({100 * d['share_removed']:.1f}%).</p>", _img(folder, plots["dedup"], "cluster sizes")]
    for c in d["sample_clusters"]:
        cols = "".join("<div>" + _sample(f"<b>{esc(doc['role'])}</b> ", esc(doc["id"]), doc["text"]) + "</div>"
                       for doc in c["documents"])
        parts.append(f"<h3>{esc(c['stage'])} cluster of {c['size']} (kept {esc(c['keeper'])})</h3>"
                     f"<div class=\"cols\">{cols}</div>")
    return "".join(parts)


def _sample(label: str, meta: str, text: str) -> str:
    """A sampled document: a label, its muted metadata (escaped HTML) and its escaped text."""
    return f"{label}<span class=\"muted\">{meta}</span><pre>{esc_text(text)}</pre>"


def rejects_section(s: dict) -> str:
    parts = ["<h2>Rejected documents, sampled by reason</h2>"]
    for group in s["rejects"]:
        samples = "".join(_sample("", f"{esc(x['id'])} {esc(x['source'])} {esc(x['url'] or '')}<br>"
                                      f"{esc(x['detail'] or '')}", x["text"]) for x in group["samples"])
        parts.append(f"<details><summary>{esc(group['stage'])} / {esc(group['reason'])}: {group['count']}"
                     f"</summary>{samples}</details>")
    return "".join(parts)


def shards_section(s: dict) -> str:
    rows = [[f'<span class="l">{esc(f["path"])}</span>', esc(f["kind"]), f["rows"], _mb(f["bytes"])] for f in s["shards"]]
    out = "<h2>Shards</h2>" + _table(["file", "kind", "rows", "MB"], rows)
    if s["tokens"]:
        t = s["tokens"]
        rows = [[f'<span class="l">{esc(f["path"])}</span>', esc(name), f["rows"], f["tokens"], _mb(f["bytes"])]
                for name, split in t["splits"].items() for f in split["files"]]
        out += (f"<p>Token shards in {esc(t['dir'])} (tokenizer {esc(t['tokenizer']['fingerprint'][:16])}, "
                f"{t['tokenizer']['vocab_size']} tokens):</p>" + _table(["file", "split", "documents", "tokens", "MB"], rows))
    return out


def training_section(s: dict, folder: str, plots: dict) -> str:
    t = s["training"]
    if not t:
        return "<h2>Training</h2><p class=\"muted\">No training log for this run.</p>"
    evals = [[e["step"], e["tokens"]] + [esc(e.get(k, "")) for k in ("eval_loss", "eval_ppl", "eval_mlm_loss", "eval_mlm_acc")]
             for e in t["evals"]]
    images = "".join(_img(folder, name, name) for name in plots.get("training", []))
    config = json.dumps((t["config"] or {}).get("config"), indent=1)
    return ("<h2>Training</h2>" + images
            + _table(["step", "tokens", "held-out loss", "perplexity", "MLM loss", "MLM accuracy"], evals)
            + f"<details><summary>configuration</summary><pre>{esc_text(config)}</pre></details>")


def render(summary: dict, folder: str, plots: dict) -> str:
    s = summary
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src 'self' file:; "
            "style-src 'unsafe-inline'\"><title>Run report</title>"
            f"<style>{_CSS}</style></head><body><h1>Run report</h1><p class=\"muted\">{esc(s['run'])}<br>"
            f"fingerprint {esc(s['fingerprint'])}, {esc(s['created'])}</p>"
            + funnel_section(s, folder, plots) + language_section(s, folder, plots)
            + signal_section(s, folder, plots) + dedup_section(s, folder, plots) + rejects_section(s)
            + shards_section(s) + training_section(s, folder, plots) + _ablation(s) + "</body></html>\n")


def _ablation(s: dict) -> str:
    from pipelines.report.ablation import section  # it imports this module

    return section(s.get("ablation"))
