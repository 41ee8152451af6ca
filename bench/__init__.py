"""On-demand benchmarks for procman and its peers (not part of the test suite).

Run everything with `make bench` or `.venv/bin/python -m bench`; one workload with
`.venv/bin/python -m bench restart`; `--quick` for fewer repetitions. Each workload runs
procman, PM2, supervisord, circus and honcho in turn (installed on demand into a throwaway
directory, bench/peers.py) beside bare baselines, all in the same run (A B A B interleaved)
because the box is noisy: read the medians and the ratios, not a lone absolute time.
Results go to bench/results/ (JSON, and a PNG of the HTTP and log figures).
"""
