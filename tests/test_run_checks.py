"""What is checked before a run reads or replaces anything, and what each check costs.

A damaged dedup-index part, or an index inside the output, is refused before --overwrite deletes the
previous run; a part copied before parts had a manifest can be sealed from the run that added it.
verify_run hashes only the kinds of file its caller reads (the others: presence and size), and under
a process group only rank 0 hashes. pipelines.train_quality_classifier reads only finished runs' listed
files. --overwrite does not fall back to deleting by name when the manifest cannot be read; a local
file is fsynced before its rename. A filter preset's mistakes name the preset, the filter and the
setting; an error inside a filter is the filter's own.
"""

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import pytest
from pyarrow.fs import LocalFileSystem

from conftest import REPO, curate, read_rows, refused, snapshot
from filters import presets
from pipelines import outputs, train_quality_classifier
from pipelines.curate import main as curate_main
from pipelines.report.__main__ import main as report_main
from schemas import run_manifest
from schemas.errors import IncompleteRun, UsageError
from schemas.run_manifest import verify_run
from trainer.tokenizer import fingerprint_of
from trainer.tokenizer import main as tokenizer_main

CCNET = "ccnet_jsonl_dolma/*.jsonl.gz"


def sources(data_dir):
    return [{"name": "ccnet", "glob": str(data_dir / CCNET)}]


def flip_a_byte(path) -> None:
    """The same size, other bytes: only a sha256 sees it."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))


# --- the dedup index: checked before the output is touched ---------------------------------------------


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, data_dir):
    """month1, curated with a dedup index (never changed: tests change copies)."""
    base = tmp_path_factory.mktemp("indexed")
    result = curate(base / "month1", sources(data_dir), filters="none", pii=False, dedup_index=str(base / "index"))
    assert result.problems == [] and list((base / "index").glob("parts/*/manifest.json"))
    return base


def copy_of(indexed, tmp_path):
    """A copy of month1 and its index; month1's manifest points at the copied index."""
    shutil.copytree(indexed / "index", tmp_path / "index")
    shutil.copytree(indexed / "month1", tmp_path / "month1")
    manifest = tmp_path / "month1" / "manifest.json"
    manifest.write_text(manifest.read_text().replace(str(indexed / "index"), str(tmp_path / "index")))
    return tmp_path / "month1", tmp_path / "index"


def test_a_damaged_part_is_refused_before_overwrite_deletes_the_run(indexed, tmp_path, data_dir):
    month1, index = copy_of(indexed, tmp_path)  # the copy's index part is another run's: it is read
    (part,) = index.glob("parts/*")
    killed = index / "parts" / "run=000000000000"  # a part whose copy was killed before its manifest
    killed.mkdir()
    shutil.copy(next(part.glob("part-*.parquet")), killed)
    before = snapshot(month1)
    with pytest.raises(IncompleteRun) as raised:
        curate(month1, sources(data_dir), filters="none", pii=False, dedup_index=str(index), overwrite=True)
    assert snapshot(month1) == before  # the previous run is still there, whole
    assert re.search("run=000000000000 has no manifest.json.*--seal-index-part", str(raised.value))
    shutil.rmtree(killed)
    flip_a_byte(next(part.glob("part-*.parquet")))  # every file of a part read is hashed
    with pytest.raises(IncompleteRun, match="does not match its sha256"):
        curate(month1, sources(data_dir), filters="none", pii=False, dedup_index=str(index), overwrite=True)
    assert snapshot(month1) == before


def test_an_index_inside_the_output_is_refused(tmp_path, data_dir, capsys):
    out = tmp_path / "run"
    argv = ["--input", str(data_dir / CCNET), "--output", str(out), "--filters", "none", "--no-pii"]
    refused(capsys, curate_main(argv + ["--dedup-index", str(out / "index")]), "lies inside the output")
    refused(capsys, curate_main(argv + ["--dedup-index", str(out)]), "lies inside the output")
    assert not out.exists()


def test_a_run_that_fails_leaves_a_new_index_untouched(tmp_path, data_dir):
    # German only: the English documents are all dropped, and a stage that keeps nothing fails the run.
    result = curate(tmp_path / "run", sources(data_dir), filters="none", pii=False, languages=["de"],
                    dedup_index=str(tmp_path / "index"))
    assert result.problems and result.manifest is None
    assert not (tmp_path / "index").exists()


def test_a_part_from_before_part_manifests_is_sealed_from_its_run(indexed, tmp_path, data_dir, capsys):
    month1, index = copy_of(indexed, tmp_path)
    (part,) = index.glob("parts/*")
    sealed = json.loads((part / "manifest.json").read_text())
    (part / "manifest.json").unlink()  # as publish_index copied parts before they had a manifest
    # The same documents under another source name (other ids): all of them are in the index.
    argv = ["--input", f"again={data_dir / CCNET}", "--output", str(tmp_path / "month2"), "--filters", "none",
            "--no-pii", "--dedup-index", str(index), "--allow-empty"]
    refused(capsys, curate_main(argv), f"{part} has no manifest.json",
            "python -m pipelines.curate --output RUN --seal-index-part")
    assert not (tmp_path / "month2").exists()
    # A changed file is not sealed: the part's files must be those the run's manifest lists.
    shard = next(part.glob("part-*.parquet"))
    good = shard.read_bytes()
    flip_a_byte(shard)
    refused(capsys, curate_main(["--output", str(month1), "--seal-index-part"]), "does not match its sha256",
            f"rerun {month1} with --overwrite")
    assert not (part / "manifest.json").exists()
    shard.write_bytes(good)
    assert curate_main(["--output", str(month1), "--seal-index-part"]) == 0
    assert f"{part}: sealed" in capsys.readouterr().out
    assert json.loads((part / "manifest.json").read_text())["files"] == sealed["files"]
    assert curate_main(["--output", str(month1), "--seal-index-part"]) == 0  # sealed already: checked only
    assert curate_main(argv) == 0
    in_index = [r for r in read_rows(tmp_path / "month2", "rejects") if r["reason"] == "in_dedup_index"]
    assert len(in_index) == json.loads((month1 / "stats.json").read_text())["totals"]["kept"]


# --- verify_run hashes what its caller reads -----------------------------------------------------------


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, data_dir):
    """A finished run with documents and rejects (fineweb's filters drop 6 of the 20 shared documents)."""
    out = tmp_path_factory.mktemp("checks") / "run"
    result = curate(out, sources(data_dir), filters="fineweb", dedup="exact", pii=False, shard_bytes=20_000)
    kinds = {f["kind"] for f in result.manifest["files"]}
    assert result.problems == [] and kinds == {"documents", "rejects"}
    return out


def counting_hashes(monkeypatch) -> list[str]:
    hashed = []
    real = run_manifest.sha256_file

    def counted(*args):
        path = next(a for a in args if isinstance(a, str))
        hashed.append(path.rsplit("/", 2)[-2])  # the partition folder: en, quality
        return real(*args)

    monkeypatch.setattr(run_manifest, "sha256_file", counted)
    return hashed


def test_verify_run_hashes_only_the_kinds_asked_for(run_dir, tmp_path, monkeypatch):
    run = shutil.copytree(run_dir, tmp_path / "run")
    documents = [f for f in json.loads((run / "manifest.json").read_text())["files"] if f["kind"] == "documents"]
    hashed = counting_hashes(monkeypatch)
    verify_run(str(run))  # by default the documents, what the tokenizer, tokenize and the trainer read
    assert len(hashed) == len(documents) and set(hashed) == {"en"}
    hashed.clear()
    verify_run(str(run), hash_kinds=())
    assert hashed == []
    flip_a_byte(next(run.glob("rejects/*/part-*.parquet")))
    verify_run(str(run))  # rejects are not read by these readers: present, at their size
    for kinds in (("rejects",), run_manifest.ALL_KINDS):
        with pytest.raises(IncompleteRun, match="rejects/.*/part-.* does not match its sha256"):
            verify_run(str(run), hash_kinds=kinds)
    next(run.glob("rejects/*/part-*.parquet")).write_bytes(b"torn")  # sizes are always checked
    with pytest.raises(IncompleteRun, match="is 4 bytes"):
        verify_run(str(run), hash_kinds=())


def test_the_report_hashes_what_it_reads_and_compare_only_sizes(run_dir, tmp_path, capsys):
    run = shutil.copytree(run_dir, tmp_path / "run")
    flip_a_byte(next(run.glob("rejects/*/part-*.parquet")))
    refused(capsys, report_main([str(run)]), "does not match its sha256")  # the report reads the rejects
    assert not (run / "report.html").exists()
    assert report_main(["--compare", str(run_dir), str(run)]) == 0  # counts from JSON: sizes only
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("0 of ")
    next(run.glob("documents/*/part-*.parquet")).write_bytes(b"torn")
    refused(capsys, report_main(["--compare", str(run_dir), str(run)]), str(run), "is 4 bytes")


def test_the_tokenizer_hashes_only_the_documents(run_dir, tmp_path, monkeypatch):
    hashed = counting_hashes(monkeypatch)
    assert tokenizer_main(["--input", str(run_dir), "--output", str(tmp_path / "t.json"), "--vocab-size", "300"]) == 0
    assert hashed and set(hashed) == {"en"}


RANKS = textwrap.dedent("""
    import json, os, sys
    import torch.distributed as dist
    from schemas import run_manifest
    from schemas.errors import IncompleteRun
    from trainer.data import shards as shards_module
    from trainer.data.shards import TokenShards
    dist.init_process_group("gloo")
    hashed, real = [], run_manifest.sha256_file
    run_manifest.sha256_file = lambda *args: hashed.append(args) or real(*args)
    verify = shards_module.verify_run

    def verify_on_this_rank(uri, *args, **kwargs):  # a run that only rank 1 finds torn (its own mount)
        if uri.endswith("rank1-torn") and dist.get_rank() == 1:
            raise IncompleteRun(f"{uri}: rank 1 finds a torn file")
        return verify(uri, *args, **kwargs)

    shards_module.verify_run = verify_on_this_rank
    out = {}
    for run in sys.argv[2:]:
        hashed.clear()
        try:
            shards = TokenShards(run, tokenizer=sys.argv[1])
            out[run] = {"hashed": len(hashed), "documents": len(shards.doc_tokens)}
        except Exception as exc:
            out[run] = {"hashed": len(hashed), "error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(out))
    dist.destroy_process_group()
""")


def test_under_a_process_group_only_rank_0_hashes(run_dir, tmp_path):
    tokenizer = tmp_path / "t.json"
    assert tokenizer_main(["--input", str(run_dir), "--output", str(tokenizer), "--vocab-size", "300"]) == 0
    bad = shutil.copytree(run_dir, tmp_path / "bad")
    flip_a_byte(sorted(bad.glob("documents/*/part-*.parquet"))[2])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    rank1_torn = shutil.copytree(run_dir, tmp_path / "rank1-torn")
    ranks = [subprocess.Popen([sys.executable, "-c", RANKS, str(tokenizer), str(run_dir), str(bad), str(rank1_torn)],
                              cwd=REPO,
                              env={**env, "RANK": str(rank)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for rank in range(2)]
    done = [rank.communicate(timeout=240) for rank in ranks]
    assert [rank.returncode for rank in ranks] == [0, 0], [err for _, err in done]
    first, second = (json.loads(out) for out, _ in done)
    documents = len(list(run_dir.glob("documents/*/part-*.parquet")))
    assert first[str(run_dir)]["hashed"] == documents and second[str(run_dir)]["hashed"] == 0
    kept = json.loads((run_dir / "stats.json").read_text())["totals"]["kept"]  # 14 on the shared data
    assert first[str(run_dir)]["documents"] == second[str(run_dir)]["documents"] == kept
    # A changed document: rank 0 finds it, and every rank refuses the run with its words.
    assert second[str(bad)]["hashed"] == 0
    assert first[str(bad)]["error"] == second[str(bad)]["error"]
    assert first[str(bad)]["error"].startswith(f"IncompleteRun: {bad}: documents/")
    # Only rank 1 finds the run torn: rank 0 learns it too, and both refuse it (none goes on alone).
    assert first[str(rank1_torn)]["error"] == second[str(rank1_torn)]["error"] == \
        f"IncompleteRun: {rank1_torn}: rank 1 finds a torn file"
    assert "does not match its sha256" in first[str(bad)]["error"]


# --- the quality classifier reads finished runs -----------------------------------------------------------


def test_the_quality_classifier_reads_only_a_finished_run(run_dir, tmp_path, data_dir, capsys):
    killed = shutil.copytree(run_dir, tmp_path / "killed")
    (killed / "manifest.json").unlink()
    with pytest.raises(IncompleteRun, match="has no manifest.json"):
        train_quality_classifier.web_texts(killed)
    train, model = train_quality_classifier.main, tmp_path / "model.bin"
    refused(capsys, train(["--run", str(killed), "--data-dir", str(data_dir), "--output", str(model)]),
            f"{killed} has no manifest.json")
    changed = shutil.copytree(run_dir, tmp_path / "changed")
    flip_a_byte(next(changed.glob("rejects/*/part-*.parquet")))  # its rejects are read too
    refused(capsys, train(["--run", str(changed), "--data-dir", str(data_dir), "--output", str(model)]),
            "does not match its sha256")
    refused(capsys, train(["--run", str(run_dir), "--data-dir", str(tmp_path), "--output", str(model)]),
            "lacks the reference text")
    with pytest.raises(SystemExit) as exited:
        train(["--run", str(run_dir), "--bogus"])
    refused(capsys, exited.value.code, "unrecognized arguments: --bogus")
    assert not model.exists()
    listed = sorted(json.loads((run_dir / "manifest.json").read_text())["files"], key=lambda f: f["path"])
    assert [str(p.relative_to(run_dir)) for p in train_quality_classifier.web_files(run_dir)] == \
        [f["path"] for kind in ("documents", "rejects") for f in listed if f["kind"] == kind]
    records = json.loads((run_dir / "stats.json").read_text())["totals"]["records"]  # 20 on the shared data
    assert len(train_quality_classifier.web_texts(run_dir)) == records  # JSONL: all web text, kept or rejected


# --- --overwrite, written files, one sha256 ---------------------------------------------------------------


def test_overwrite_does_not_fall_back_to_names_when_the_manifest_cannot_be_read(run_dir, tmp_path, monkeypatch):
    out = shutil.copytree(run_dir, tmp_path / "run")
    stale = out / "documents" / "xx" / "part-00000-of-00001.parquet"  # a run's name, not in its manifest
    stale.parent.mkdir()
    shutil.copy(next(out.glob("documents/en/*.parquet")), stale)
    before = snapshot(out)
    real = outputs.FileSystems.open

    def failing(path, *args, **kwargs):
        if path.endswith("manifest.json"):
            raise OSError(5, "Input/output error", path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(outputs.FileSystems, "open", failing)
    with pytest.raises(OSError, match="Input/output error"):
        outputs.prepare_output(str(out), overwrite=True)
    assert snapshot(out) == before
    monkeypatch.setattr(outputs.FileSystems, "open", real)
    with pytest.raises(outputs.OutputNotEmpty, match="does not list"):  # read, the manifest decides
        outputs.prepare_output(str(out), overwrite=True)
    (out / "manifest.json").write_text('{"complete": true, "files": [')  # torn: the names decide
    assert outputs._listed(str(out), outputs.CURATION) is None
    (out / "manifest.json").write_text('{"complete": true, "files": {"a": 1}}')  # not its list
    assert outputs._listed(str(out), outputs.CURATION) is None
    (out / "manifest.json").unlink()
    assert outputs._listed(str(out), outputs.CURATION) is None


def test_a_local_file_is_on_disk_before_its_name_is(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(source, destination):
        events.append(("replace", str(source)))
        real_replace(source, destination)

    monkeypatch.setattr(outputs.os, "fsync", fsync)
    monkeypatch.setattr(outputs.os, "replace", replace)
    outputs.write_json(str(tmp_path), "stats.json", {"a": 1})
    assert [kind for kind, _ in events] == ["fsync", "replace"] and events[0][1] == events[1][1]
    assert ".stats.json.tmp-" in events[0][1] and json.loads((tmp_path / "stats.json").read_text()) == {"a": 1}


def test_one_sha256_for_every_file(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_bytes(os.urandom(3 << 20))  # more than one chunk
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    sha256_file = run_manifest.sha256_file
    assert sha256_file(str(path)) == sha256_file(str(path), LocalFileSystem()) == expected
    assert outputs.sha256_of(str(path)) == fingerprint_of(path) == fingerprint_of(f"file://{path}") == expected


# --- filter presets ---------------------------------------------------------------------------------------


def preset(tmp_path, text: str):
    path = tmp_path / "mine.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_a_preset_mistake_names_the_preset_the_filter_and_the_setting(tmp_path, monkeypatch):
    with pytest.raises(presets.UnknownPreset, match=r"mine.yaml: filters\[1\] \(c4\): unknown setting 'min_word'"):
        presets.load_preset(preset(tmp_path, """
            filters:
              - {type: badwords, max_badwords: 1}
              - {type: c4, min_word: 3}
        """))
    missing = tmp_path / "nowhere" / "list.txt"
    with pytest.raises(UsageError, match=rf"\(url_blocklist\): rule_files '{missing}' is not a file \(it does not"):
        presets.load_preset(preset(tmp_path, f"filters: [{{type: url_blocklist, rule_files: ['{missing}']}}]"))
    with pytest.raises(UsageError, match=rf"\(badwords\): lists_dir '{tmp_path / 'mine.yaml'}' is not a folder$"):
        presets.load_preset(preset(tmp_path, f"filters: [{{type: badwords, lists_dir: '{tmp_path / 'mine.yaml'}'}}]"))
    # A value of the wrong type is refused before any document meets it (it used to fail on the first).
    with pytest.raises(UsageError, match=r"\(gopher_quality\): min_doc_words must be a whole number, got str 'ten'"):
        presets.load_preset(preset(tmp_path, "filters: [{type: gopher_quality, min_doc_words: ten}]"))
    with pytest.raises(UsageError, match=r"\(c4\): min_words_per_line must be a whole number, got bool True"):
        presets.load_preset(preset(tmp_path, "filters: [{type: c4, min_words_per_line: yes}]"))
    presets.load_preset(preset(tmp_path, "filters: [{type: gopher_quality, max_symbol_word_ratio: 1}]"))  # int is a float

    @dataclass
    class Needs:
        threshold: float

        def __post_init__(self):
            if self.threshold > 1:
                raise TypeError("a bug in the filter, not in the preset")  # e.g. a wrong call inside

    monkeypatch.setitem(presets.FILTER_TYPES, "needs", Needs)
    with pytest.raises(presets.UnknownPreset, match=r"filters\[0\] \(needs\): missing setting 'threshold'"):
        presets.load_preset(preset(tmp_path, "filters: [{type: needs}]"))
    assert presets.load_preset(preset(tmp_path, "filters: [{type: needs, threshold: 0.5}]"))[1].filters
    with pytest.raises(TypeError, match="a bug in the filter") as raised:
        presets.load_preset(preset(tmp_path, "filters: [{type: needs, threshold: 2}]"))
    assert not isinstance(raised.value, UsageError)


def test_shard_count_problems_name_the_folders_a_user_sees():
    from pipelines.accounting import check_files

    stats = {"languages": {"en": {"documents": 2}}, "stages": [{"stage": "quality", "rejected": {"short": 1}}],
             "totals": {"quarantined": 0}}
    files = [{"kind": "documents", "partition": "lang=en", "rows": 3},
             {"kind": "rejects", "partition": "stage=quality", "rows": 1},
             {"kind": "rejects", "partition": "stage=pii", "rows": 4},
             {"kind": "quarantine", "partition": None, "rows": 2}]
    assert check_files(stats, files) == ["documents/en: shard rows differ from the 2 counted",
                                         "rejects/pii: 4 rows that no counter accounts for",
                                         "quarantine: 2 rows that no counter accounts for"]
