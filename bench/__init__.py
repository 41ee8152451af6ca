"""On-demand benchmarks for procman (not part of the test suite).

Run everything with `make bench` or `.venv/bin/python -m bench`; one workload with
`.venv/bin/python -m bench restart`; `--quick` for fewer repetitions. Every workload is
measured against a baseline in the same run (A B A B interleaved) because the box is noisy:
read the medians and the ratios, not a lone absolute time. Results go to bench/results/.
"""
