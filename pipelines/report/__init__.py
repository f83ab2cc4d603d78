"""The run report: one static page (report.html, PNG plots beside it) and summary.json.

summary.py reads a run (stats.json, manifest.json, the shards and rejects) and, when present, its
token shards and training log, into one JSON-able summary; plots.py draws it; page.py writes the
HTML from it; compare.py diffs two summaries. Every number on the page is in the summary, and every
number in the summary comes from the run's own stats, files or logs.
"""
