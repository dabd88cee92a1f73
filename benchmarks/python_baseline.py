#!/usr/bin/env python3
"""Python's own concurrent.futures on the workloads of bench_thread,
bench_process and bench_memory, so that the README can show both. Prints
JSON: for each workload, the median seconds per task over --repetitions.

  python3 benchmarks/python_baseline.py [--quick] [--repetitions N]
"""
import argparse
import concurrent.futures as cf
import json
import multiprocessing
import os
import statistics
import sys
import threading
import time

WORKERS = 2
PRIMES = [112272535095293, 112582705942171, 112272535095293,
          115280095190773, 115797848077099, 1099726899285419] * 4  # as bench_thread


def noop():
    return 0


def square(x):
    return x * x


def echo(s):
    return s


def is_prime(n):
    if n < 2:
        return False
    if n == 2:
        return True
    if n % 2 == 0:
        return False
    i = 3
    while i * i <= n:
        if n % i == 0:
            return False
        i += 2
    return True


def throughput(pool, n):
    futures = [pool.submit(noop) for _ in range(n)]
    for f in futures:
        f.result()


def latency(pool, n):
    for _ in range(n):
        pool.submit(noop).result()


def as_completed(pool, n):
    futures = [pool.submit(noop) for _ in range(n)]
    for f in cf.as_completed(futures):
        f.result()


def wait_first_completed(pool, pending):
    futures = pending + [pool.submit(noop)]
    cf.wait(futures, return_when=cf.FIRST_COMPLETED)


def start_to_first_result(method):
    start = time.perf_counter()
    pool = cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context(method))
    pool.submit(noop).result()
    elapsed = time.perf_counter() - start
    pool.shutdown()
    return elapsed


def resident_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGESIZE")


def bytes_per_queued_task(n):
    gate = threading.Event()
    with cf.ThreadPoolExecutor(1) as pool:
        pool.submit(gate.wait)
        futures = []
        before = resident_bytes()
        for _ in range(n):
            futures.append(pool.submit(noop))
        after = resident_bytes()
        gate.set()
    return (after - before) / n


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a hundredth of each size, one repetition")
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args()
    scale = 100 if args.quick else 1
    reps = 1 if args.quick else args.repetitions
    primes = PRIMES[:2] if args.quick else PRIMES

    def size(n):
        return max(1, n // scale)

    results = {}

    def measure(name, tasks, run, repetitions=reps):
        seconds = []
        for _ in range(repetitions):
            start = time.perf_counter()
            run()
            seconds.append(time.perf_counter() - start)
        results[name] = {"seconds_per_task": statistics.median(seconds) / tasks,
                         "tasks": tasks}
        print(f"{name}: {results[name]['seconds_per_task'] * 1e6:.2f} us/task",
              file=sys.stderr)

    with cf.ThreadPoolExecutor(WORKERS) as pool:
        measure("W1_throughput", size(200_000), lambda: throughput(pool, size(200_000)))
        measure("W2_latency", size(20_000), lambda: latency(pool, size(20_000)))
        # A tenth of a million items: the per-item time is what is compared.
        xs = range(size(100_000))
        measure("W3_map_thread", len(xs), lambda: sum(pool.map(square, xs)))
        measure("W4_as_completed", size(10_000), lambda: as_completed(pool, size(10_000)))
        pending = [cf.Future() for _ in range(999)]
        measure("W4_wait_first_completed", 100,  # per wait
                lambda: [wait_first_completed(pool, pending) for _ in range(100)])
        # Seconds per run in pure Python: one repetition of each is enough.
        measure("W5_is_prime_thread", len(primes), lambda: list(pool.map(is_prime, primes)),
                repetitions=1)
    measure("W5_is_prime_serial", len(primes), lambda: [is_prime(n) for n in primes],
            repetitions=1)

    with cf.ProcessPoolExecutor(WORKERS) as pool:
        pool.submit(noop).result()
        measure("W5_is_prime_process", len(primes), lambda: list(pool.map(is_prime, primes)),
                repetitions=1)
        xs = range(size(1_000_000))
        measure("W3_map_process_chunked", len(xs),
                lambda: sum(pool.map(square, xs, chunksize=1000)))
        measure("W6_throughput", size(50_000), lambda: throughput(pool, size(50_000)))
    with cf.ProcessPoolExecutor(1) as pool:
        pool.submit(noop).result()
        measure("W6_round_trip", size(20_000), lambda: latency(pool, size(20_000)))
        payload = "x" * (32 << 20)
        measure("W6_32MiB", 1, lambda: pool.submit(echo, payload).result())
    for method in ("fork", "forkserver", "spawn"):
        times = [start_to_first_result(method) for _ in range(reps)]
        results[f"W6_start_{method}"] = {"seconds_per_task": statistics.median(times),
                                         "tasks": 1}
        print(f"W6_start_{method}: {statistics.median(times) * 1e3:.2f} ms", file=sys.stderr)

    n = size(1_000_000)
    results["Memory_queued_task"] = {"bytes_per_task": bytes_per_queued_task(n), "tasks": n}
    print(f"Memory_queued_task: {results['Memory_queued_task']['bytes_per_task']:.0f} B",
          file=sys.stderr)

    json.dump({"python": sys.version.split()[0], "results": results}, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
