"""`python -m benchmarks.startup [runs]`: the suite's start-up, as `make run` does it, several times.

Two cases: a fresh data directory (first `make run`; what `make bench` times) and the same directory again
(every later `make run`). Each run is timed from the launcher's start until it prints "Ctrl-C stops
everything", and the CPU that the launcher and its children (services, gateway) spent until then is given
too: on a shared machine it swings less than the wall clock. The embedded PostgreSQL is not the launcher's
child (pgserver daemonizes it), so its CPU is not counted.
"""

import os
import signal
import statistics
import subprocess
import sys
import tempfile

import psutil

from benchmarks.__main__ import start_suite


def cpu_seconds(proc: subprocess.Popen) -> float:
    total = 0.0
    launcher = psutil.Process(proc.pid)
    for p in [launcher, *launcher.children(recursive=True)]:
        try:
            times = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def once(data_dir: str) -> tuple[float, float]:
    proc, _, wall = start_suite(data_dir)
    try:
        cpu = cpu_seconds(proc)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    return wall, cpu


def report(label: str, runs: list[tuple[float, float]]) -> None:
    walls, cpus = [w for w, _ in runs], [c for _, c in runs]
    print(f"{label}: wall median {statistics.median(walls):.2f} s ({' '.join(f'{w:.2f}' for w in walls)}); "
          f"CPU median {statistics.median(cpus):.2f} s ({' '.join(f'{c:.2f}' for c in cpus)})", flush=True)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    fresh, again = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="agentic-startup-") as data_dir:
            fresh.append(once(data_dir))
            again.append(once(data_dir))
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    report("fresh data directory (make bench)", fresh)
    report("existing data directory (make run again)", again)


if __name__ == "__main__":
    main()
