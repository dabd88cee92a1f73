#!/usr/bin/env python3
"""Compile time of a file that includes <concurrent/futures.hpp> and submits
one task, against one that includes <future> and <thread> and calls
std::async: the median of --repetitions compilations of each, and the ratio.
Also timed: the same task with only <concurrent/futures/thread.hpp>, what
each further kind of call costs (21 calls of distinct types against one, per
extra call) for both, and the same task on the pools the runtime benchmarks
compare against (the textbook std::mutex queue pool; Asio's thread_pool and
oneTBB's task_group where installed).

  benchmarks/compile_time.py --cxx g++ --include include --flags=-O2
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def compile_seconds(cxx, flags, include, source, out):
    command = [cxx, "-std=c++20", *flags, "-I", include, "-c", source, "-o", out]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def has_header(cxx, header):
    probe = subprocess.run([cxx, "-std=c++20", "-fsyntax-only", "-x", "c++", "-"],
                           input=f"#include <{header}>\n", text=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return probe.returncode == 0


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cxx", default=os.environ.get("CXX", "g++"))
    parser.add_argument("--include", default=os.path.join(HERE, "..", "include"))
    parser.add_argument("--flags", default="-O2", help="compiler flags, one string")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()

    flags = shlex.split(args.flags)
    sources = {
        "concurrent_futures": os.path.join(HERE, "compile_time", "with_futures.cpp"),
        "std_async": os.path.join(HERE, "compile_time", "with_async.cpp"),
        "thread_pool_header": os.path.join(HERE, "compile_time", "with_thread_pool.cpp"),
        "concurrent_futures_21_calls": os.path.join(HERE, "compile_time",
                                                    "with_futures_21_calls.cpp"),
        "std_async_21_calls": os.path.join(HERE, "compile_time", "with_async_21_calls.cpp"),
        "mutex_queue_pool": os.path.join(HERE, "compile_time", "with_mutex_queue_pool.cpp"),
    }
    for name, header, source in (("asio_thread_pool", "asio/thread_pool.hpp", "with_asio.cpp"),
                                 ("onetbb_task_group", "tbb/task_group.h", "with_tbb.cpp")):
        if has_header(args.cxx, header):  # peers are optional, as in the benchmarks
            sources[name] = os.path.join(HERE, "compile_time", source)
    times = {name: [] for name in sources}
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "probe.o")
        for _ in range(args.repetitions):
            for name, source in sources.items():  # interleaved: same machine state
                times[name].append(compile_seconds(args.cxx, flags, args.include, source, out))
    medians = {name: statistics.median(t) for name, t in times.items()}
    ratio = medians["concurrent_futures"] / medians["std_async"]
    per_call = {name: (medians[f"{name}_21_calls"] - medians[name]) / 20
                for name in ("concurrent_futures", "std_async")}
    result = {"compiler": args.cxx, "flags": args.flags, "repetitions": args.repetitions,
              "seconds": medians, "ratio": ratio, "seconds_per_extra_call": per_call}
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print(f"{args.cxx} {args.flags}: concurrent/futures.hpp "
              f"{medians['concurrent_futures']:.2f} s, std::async "
              f"{medians['std_async']:.2f} s, ratio {ratio:.2f} (thread.hpp only "
              f"{medians['thread_pool_header']:.2f} s); each further kind of call "
              f"{per_call['concurrent_futures']:.3f} s against "
              f"{per_call['std_async']:.3f} s")
        for name in ("mutex_queue_pool", "asio_thread_pool", "onetbb_task_group"):
            if name in medians:
                print(f"  {name}: {medians[name]:.2f} s, "
                      f"{medians[name] / medians['std_async']:.2f}x std::async")


if __name__ == "__main__":
    main()
