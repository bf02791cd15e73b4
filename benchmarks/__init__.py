"""Speed and memory measurements: `make bench` or `python -m benchmarks [NAME ...] [--quick]`."""
