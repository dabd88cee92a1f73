#!/usr/bin/env python3
"""Runs every benchmark (Google Benchmark programs, Python's
concurrent.futures, the compile-time probe) and prints the README's
Performance table: medians of --repetitions runs, ratios to the baselines
measured in the same run, and whether each target of the issue holds.

  python3 benchmarks/report.py     # builds the `bench` preset first

Needs Google Benchmark (Debian: libbenchmark-dev); oneTBB (libtbb-dev) and
Asio (libasio-dev) join the comparison when installed.
"""
import argparse
import json
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = ("bench_thread", "bench_process", "bench_memory")


def run_benchmarks(build, repetitions):
    """{benchmark name: median record} over the three programs."""
    medians = {}
    for program in PROGRAMS:
        path = os.path.join(build, "benchmarks", program)
        print(f"running {program} ...", file=sys.stderr)
        out = subprocess.run(
            [path, f"--benchmark_repetitions={repetitions}",
             "--benchmark_report_aggregates_only=true", "--benchmark_format=json"],
            check=True, capture_output=True, text=True).stdout
        for b in json.loads(out)["benchmarks"]:
            if b.get("aggregate_name") == "median":
                medians[b["run_name"].split("/")[0]] = b
    return medians


SCALE = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def per_task(medians, name):
    """Seconds per task of a Google Benchmark workload, or None if not run."""
    b = medians.get(name)
    if b is None:
        return None
    return b["real_time"] * SCALE[b["time_unit"]] / b["tasks"]


def fmt_time(seconds):
    if seconds is None:
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(HERE, "..", "build", "bench"),
                        help="a configured build tree (default: the `bench` preset's, "
                             "configured and built first)")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--python-repetitions", type=int, default=5)
    args = parser.parse_args()

    if args.build == parser.get_default("build"):
        source = os.path.join(HERE, "..")
        subprocess.run(["cmake", "--preset", "bench"], cwd=source, check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["cmake", "--build", "--preset", "bench"], cwd=source, check=True,
                       stdout=subprocess.DEVNULL)
    ours = run_benchmarks(args.build, args.repetitions)
    print("running python_baseline.py ...", file=sys.stderr)
    python = json.loads(subprocess.run(
        [sys.executable, os.path.join(HERE, "python_baseline.py"),
         f"--repetitions={args.python_repetitions}"],
        check=True, capture_output=True, text=True).stdout)
    py = {k: v for k, v in python["results"].items()}
    compile_times = []
    for cxx in ("g++", "clang++"):
        print(f"timing compilation with {cxx} ...", file=sys.stderr)
        compile_times.append(json.loads(subprocess.run(
            [sys.executable, os.path.join(HERE, "compile_time.py"), "--cxx", cxx,
             f"--repetitions={args.repetitions}", "--json"],
            check=True, capture_output=True, text=True).stdout))

    rows = []

    def py_time(name):
        return py[name]["seconds_per_task"] if name in py else None

    def compare(workload, mine, baseline, theirs, target=None, invert=False, unit=fmt_time):
        """One row: our figure against one baseline. `target` (ratio, is_upper_bound)."""
        if mine is None or theirs is None:
            return
        ratio = mine / theirs
        shown = f"{ratio:.2f}×"
        met = ""
        if target is not None:
            bound, upper = target
            ok = ratio <= bound if upper else ratio >= bound
            met = ("✔ " if ok else "✘ ") + ("≤ " if upper else "≥ ") + f"{bound:g}×"
        rows.append((workload, unit(mine), baseline, unit(theirs), shown, met))

    t = lambda name: per_task(ours, name)
    # W1-W3: time per task, ours over theirs (lower is better).
    for w, label in (("W1_throughput", "W1 throughput (per task)"),
                     ("W2_latency", "W2 submit + result (round trip)"),
                     ("W3_map_thread", "W3 map, thread pool (per item)")):
        target = {"W1_throughput": (0.5, True), "W2_latency": (0.1, True),
                  "W3_map_thread": (0.5, True)}[w]
        compare(label, t(f"{w}_cf"), "Asio thread_pool + packaged_task", t(f"{w}_asio"), target)
        compare(label, t(f"{w}_cf"), "std::mutex queue of packaged_task", t(f"{w}_mutex_queue"))
        compare(label, t(f"{w}_cf"), "std::async", t(f"{w}_std_async"))
        compare(label, t(f"{w}_cf"), "oneTBB task_group, no futures", t(f"{w}_tbb_no_futures"))
        compare(label, t(f"{w}_cf"), "Python ThreadPoolExecutor", py_time(w))
    # Python over ours for the "N times faster than Python" targets.
    speedup = lambda mine, theirs: None if mine is None or theirs is None else theirs / mine

    def faster(workload, mine, baseline, theirs, bound):
        s = speedup(mine, theirs)
        if s is None:
            return
        met = ("✔ " if s >= bound else "✘ ") + f"≥ {bound:g}× faster" if bound else ""
        rows.append((workload, fmt_time(mine), baseline, fmt_time(theirs),
                     f"{s:.1f}× faster", met))

    faster("W3 map, process pool, chunksize 1000 (per item)", t("W3_map_process_chunked_cf"),
           "Python ProcessPoolExecutor", py_time("W3_map_process_chunked"), 100)
    compare("W3 map, process pool, chunksize 1000 (per item)", t("W3_map_process_chunked_cf"),
            "shared-memory floor (2 forked workers, polling)", t("W3_map_process_shm_floor"))
    compare("W4 as_completed (per task)", t("W4_as_completed_cf"),
            "std::mutex queue, futures read in order", t("W4_as_completed_mutex_queue"))
    compare("W4 as_completed (per task)", t("W4_as_completed_cf"),
            "Asio thread_pool, futures read in order", t("W4_as_completed_asio"))
    compare("W4 as_completed (per task)", t("W4_as_completed_cf"), "Python",
            py_time("W4_as_completed"))
    compare("W4 wait(FIRST_COMPLETED), 1,000 futures", t("W4_wait_first_completed_cf"),
            "Python", py_time("W4_wait_first_completed"))
    serial = t("W5_is_prime_serial")
    for pool, name in (("thread", "W5_is_prime_thread_cf"), ("process", "W5_is_prime_process_cf")):
        s = speedup(t(name), serial)
        if s is not None:
            rows.append((f"W5 is_prime, {pool} pool, 2 workers (per number)", fmt_time(t(name)),
                         "serial loop", fmt_time(serial), f"{s:.2f}× speed-up",
                         ("✔ " if s >= 1.8 else "✘ ") + "≥ 1.8×"))
    py_serial = py_time("W5_is_prime_serial")
    for pool in ("thread", "process"):
        s = speedup(py_time(f"W5_is_prime_{pool}"), py_serial)
        if s is not None:
            rows.append((f"W5 is_prime, Python {pool} pool (for reference)",
                         fmt_time(py_time(f"W5_is_prime_{pool}")), "Python serial loop",
                         fmt_time(py_serial), f"{s:.2f}× speed-up", ""))
    compare("W6 process round trip", t("W6_round_trip_cf"), "raw pipe ping-pong (2 processes)",
            t("W6_round_trip_raw_pipe"), (2, True))
    compare("W6 process round trip", t("W6_round_trip_cf"), "Python ProcessPoolExecutor",
            py_time("W6_round_trip"))
    faster("W6 process pool, 50,000 no-op tasks (per task)", t("W6_throughput_cf"),
           "Python ProcessPoolExecutor", py_time("W6_throughput"), 20)
    for method in ("fork", "forkserver", "spawn"):
        mine = t(f"W6_start_{method}_cf")
        raw = t("W6_start_raw_fork") if method != "spawn" else t("W6_start_raw_posix_spawn")
        label = f"W6 start to first result, {method}"
        compare(label, mine, "raw fork" if method != "spawn" else "raw posix_spawn", raw)
        if method == "fork" and mine is not None:
            rows.append((label, fmt_time(mine), "target", "5 ms", "",
                         ("✔ " if mine <= 5e-3 else "✘ ") + "≤ 5 ms"))
        compare(label, mine, f"Python, {method}", py_time(f"W6_start_{method}"))
    compare("W6 32 MiB argument and result", t("W6_32MiB_cf"), "raw pipe, 32 MiB each way",
            t("W6_32MiB_raw_pipe"))
    compare("W6 32 MiB argument and result", t("W6_32MiB_cf"), "Python", py_time("W6_32MiB"))

    def mem(name):
        b = ours.get(name)
        return b["bytes_per_task"] if b else None
    bytes_fmt = lambda b: f"{b:.0f} B"
    mine = mem("Memory_queued_task_cf")
    if mine is not None:
        rows.append(("Memory per queued no-op task (1,000,000 queued)", bytes_fmt(mine),
                     "target", "128 B", "", ("✔ " if mine <= 128 else "✘ ") + "≤ 128 B"))
    for name, label in (("Memory_queued_task_mutex_queue", "std::mutex queue of packaged_task"),
                        ("Memory_queued_task_asio", "Asio thread_pool + packaged_task")):
        compare("Memory per queued no-op task", mine, label, mem(name), unit=bytes_fmt)
    if "Memory_queued_task" in py:
        compare("Memory per queued no-op task", mine, "Python ThreadPoolExecutor",
                py["Memory_queued_task"]["bytes_per_task"], unit=bytes_fmt)
    for c in compile_times:
        s = c["seconds"]
        compare(f"Compile time ({c['compiler']} {c['flags']})", s["concurrent_futures"],
                "<future> + std::async", s["std_async"], (1.5, True))
        compare(f"Compile time, thread.hpp only ({c['compiler']} {c['flags']})",
                s.get("thread_pool_header"), "<future> + std::async", s["std_async"])
        # The peers against the same std::async file, so that the ratio column
        # compares them with us directly.
        for name, label in (("mutex_queue_pool", "std::mutex queue of packaged_task"),
                            ("asio_thread_pool", "Asio thread_pool + packaged_task"),
                            ("onetbb_task_group", "oneTBB task_group, no futures")):
            compare(f"Compile time, {label} (for reference; {c['compiler']} {c['flags']})",
                    s.get(name), "<future> + std::async", s["std_async"])
        extra = c.get("seconds_per_extra_call")
        if extra:
            compare(f"Compile time of each further kind of call ({c['compiler']} "
                    f"{c['flags']})", extra["concurrent_futures"], "std::async",
                    extra["std_async"])

    print(f"Machine: {os.cpu_count()} × {cpu_model()}, Linux "
          f"{platform.release()}; Python {python['python']}; medians of "
          f"{args.repetitions} repetitions.\n")
    print("| Workload | concurrent-futures | Baseline | Baseline's figure | Ratio | Target |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
