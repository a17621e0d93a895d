"""Per-source cleaning: pure, Beam-free logic for GitHub, arXiv, StackExchange and Books.

Each ``cleaners/<source>.py`` holds that source's cleaner(s) (``name``, ``load()``,
``__call__(doc) -> Document``: they transform, never decide) and filters (``__call__(doc) ->
Verdict``: they decide, never transform), with drop reasons as module constants. Readers that
turn raw files into documents live beside them in ``filters/readers_<source>.py``; the Beam
wiring is in ``pipeline/recipes/<source>.py``. (Wikipedia's reader and cleaner are in
``filters/wikipedia.py``.)
"""
