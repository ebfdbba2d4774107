#!/usr/bin/env python3
"""Wall time of a whole command, process start included: 2 warm-up runs, then
the mean, standard deviation, minimum and maximum of 10 runs.

    python3 xtask/wall_time.py target/release/narformer predict tests/fixtures/onnx/resnet18.onnx

Run it on an idle machine (nothing else running); for a comparison, alternate
the commands being compared, several rounds.
"""

import statistics
import subprocess
import sys
import time


def main():
    command = sys.argv[1:]
    if not command:
        sys.exit(__doc__)
    for _ in range(2):
        subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
    times = []
    for _ in range(10):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
        times.append((time.perf_counter() - start) * 1000)
    print(
        f"{statistics.mean(times):.1f} ms +- {statistics.stdev(times):.1f} "
        f"(min {min(times):.1f}, max {max(times):.1f}) over 10 runs"
    )


if __name__ == "__main__":
    main()
