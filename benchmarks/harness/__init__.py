"""The orchestrating side of the benchmarks: peer environments, data, workers, reports.

Runs in the equilens environment; each measured code runs in a worker process of its
own environment (see ``benchmarks/workers``).
"""
