"""``kmirror bench``: kmirror, MirrorMaker 2, classic MirrorMaker and the machine's limit, side
by side on the same local clusters, in one run.

The pieces, in the order a run uses them: ``scenarios`` (what is copied), ``java`` (Kafka's own
perf tools and the Java mirrors' runtimes), ``sampler`` (CPU seconds and peak RSS of a process
tree), ``tools`` (how each mirror is started), ``runner`` (one timed copy, repetitions),
``latency`` (replication latency at a steady rate) and ``report`` (JSON, Markdown, chart).
"""
