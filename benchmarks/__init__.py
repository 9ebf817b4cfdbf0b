"""Benchmarks (`make bench`): start-up time, idle memory, gateway throughput and latency. They print figures."""
