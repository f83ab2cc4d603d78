"""The dataset card (README.md) a curation run and a token-shard run write beside their shards.

Its YAML front matter's `configs:` block is the Hugging Face Hub's convention for a folder of data
files: `datasets.load_dataset(folder)` reads the configs and splits it names from the globs it gives,
and nothing else in the folder (without it, `datasets` guessed the builder from every file there, and
failed on the report's PNG files; and of token shards it kept `train/` and silently dropped `heldout/`,
a split name it does not know). So:

- a curation run: the configs `documents` (the default), `rejects` and `quarantine`, each one split
  `train` of its shards, e.g. `load_dataset(run, "rejects")`;
- token shards: one config whose splits are `train` (`train/`) and `validation` (`heldout/`).

A config or split without a file is left out (datasets refuses a glob that matches nothing). The card
depends only on the files' names and row counts, so it is the same bytes whenever the shards are.
The run's manifest lists it (`card`: path, bytes, sha256); it is documentation, so `verify_run` does
not refuse a run whose card was edited.
"""

CARD = "README.md"

# A curation run's configs: (config, glob of its shards, what its rows are).
CURATION_CONFIGS = (
    ("documents", "documents/*/*.parquet", "kept documents, one folder per language (`documents/en/`)"),
    ("rejects", "rejects/*/*.parquet", "dropped documents, one folder per stage (`rejects/quality/`), "
                                       "with `stage`, `reason` and `detail`"),
    ("quarantine", "quarantine/*.parquet", "records that could not be read: `file`, `offset`, `stage`, `error`"),
)
# Token shards: (split as datasets names it, the folder pipelines.tokenize writes).
TOKEN_SPLITS = (("train", "train"), ("validation", "heldout"))


def _front_matter(configs: list[tuple[str, list[tuple[str, str]]]]) -> list[str]:
    """configs: [(name, [(split, glob)])], the first the default; none (a run that kept, rejected and
    quarantined nothing): no front matter."""
    if not configs:
        return []
    lines = ["---", "configs:"]
    for i, (name, splits) in enumerate(configs):
        lines.append(f"- config_name: {name}")
        if i == 0:
            lines.append("  default: true")
        lines.append("  data_files:")
        for split, glob in splits:
            lines += [f"  - split: {split}", f"    path: {glob}"]
    return lines + ["---", ""]


def _rows(files: list[dict], kind: str) -> tuple[int, int]:
    mine = [f for f in files if f["kind"] == kind]
    return sum(f["rows"] for f in mine), len(mine)


def curation_card(files: list[dict]) -> str:
    """The card of a curation run whose shards are `files` (outputs.list_outputs' entries: kind, partition, rows)."""
    present = [(name, glob, what) for name, glob, what in CURATION_CONFIGS if _rows(files, name)[1]]
    lines = _front_matter([(name, [("train", glob)]) for name, glob, _ in present])
    lines += ["# Curation run", "",
              "Written by curate-pretrain (`python -m pipelines.curate`): zstd Parquet shards sorted by id, "
              "with the schemas of `schemas/` (versioned in each file's metadata). `manifest.json` lists every "
              "shard with its rows and sha256, the config and the versions; `stats.json` counts every document "
              "per source, stage, reason and language.", "",
              "| config | files | rows | what |", "|---|---|---|---|"]
    for name, glob, what in present:
        rows, count = _rows(files, name)
        lines.append(f"| `{name}` | {count} | {rows} | {what}: `{glob}` |")
    partitions: dict = {}
    for f in files:
        if f["partition"]:
            partitions[f["partition"]] = partitions.get(f["partition"], 0) + f["rows"]
    if partitions:
        lines += ["", "Rows per partition: " + ", ".join(f"`{p}` {n}" for p, n in sorted(partitions.items())) + "."]
    lines += ["", "The language (`lang`) and the reject stage (`stage`) are columns of every row; the folders are "
              "named by their bare values, not `lang=en`, so that no reader adds a partition column of its own. "
              "Each of these reads a folder whole, with no options:", "",
              "```python",
              'pandas.read_parquet("documents")',
              'pyarrow.parquet.read_table("rejects")',
              'pyarrow.dataset.dataset("documents").to_table()',
              'duckdb.sql("SELECT lang, count(*) FROM read_parquet(\'documents/**/*.parquet\') GROUP BY lang")',
              'polars.scan_parquet("documents/**/*.parquet").collect()  # or polars.read_parquet("documents")',
              'datasets.load_dataset(".", "rejects")  # this folder: configs documents (default), rejects, quarantine',
              "```", ""]
    return "\n".join(lines)


def token_card(splits: dict) -> str:
    """The card of token shards; splits: pipelines.tokenize's (folder -> {"rows", "tokens", "files"})."""
    present = [(name, folder) for name, folder in TOKEN_SPLITS if splits.get(folder, {}).get("files")]
    lines = _front_matter([("default", [(name, f"{folder}/*.parquet") for name, folder in present])])
    lines += ["# Token shards", "",
              "Written by curate-pretrain (`python -m pipelines.tokenize`) from a curation run's kept documents: "
              "one row a document (`id`, `source`, `input_ids` without separators, `n_tokens`), zstd Parquet "
              "sorted by id. `manifest.json` names the tokenizer and lists every shard with its rows, tokens "
              "and sha256.", "",
              "| split | folder | files | rows | tokens |", "|---|---|---|---|---|"]
    for name, folder in present:
        split = splits[folder]
        lines.append(f"| `{name}` | `{folder}/` | {len(split['files'])} | {split['rows']} | {split['tokens']} |")
    lines += ["", "`datasets.load_dataset(\".\")` gives the splits `train` and `validation` (the held-out "
              "documents, `heldout/`). A split's folder reads whole with no options "
              '(`pandas.read_parquet("train")`, `polars.read_parquet("heldout")`); '
              "`read_parquet('**/*.parquet')` (duckdb, polars) reads both.", ""]
    return "\n".join(lines)
