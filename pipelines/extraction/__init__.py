"""HTML to text: the extractors (html.py: the cascade, Resiliparse, Trafilatura; pruning.py: the DOM
blocks the cascade removes first) and the child process each page is extracted in, under a time limit
(sandbox.py). docs/extraction.md."""
