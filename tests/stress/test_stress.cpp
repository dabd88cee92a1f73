// Races repeated many times: they catch lost wake-ups (a hang, caught by the
// hang guard), double completions (a callback run twice, a result both set
// and cancelled) and use-after-free (under the sanitizers).
// CF_STRESS_SCALE (an integer, default 1) multiplies the repetitions.

#include "catch.hpp"
#include "sync.hpp"

#include <concurrent/futures.hpp>
#include <concurrent/futures/detail/shared_ring.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>
#include <semaphore>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace cf = concurrent::futures;
using namespace std::chrono_literals;

namespace {

int repetitions(int base) {
  const char* scale = std::getenv("CF_STRESS_SCALE");
  return base * (scale != nullptr ? std::max(1, std::atoi(scale)) : 1);
}

} // namespace

TEST_CASE("every thread blocked on a future wakes when it completes",
          "[stress]") {
  for (int rep = 0; rep < repetitions(2000); ++rep) {
    cf::Future<int> f;
    std::atomic<int> woke = 0;
    {
      std::vector<std::jthread> waiters;
      for (int i = 0; i < 3; ++i) {
        waiters.emplace_back([&] {
          if (f.result(test::hang_guard) == rep) {
            ++woke;
          }
        });
      }
      f.set_result(rep);
    }
    REQUIRE(woke == 3);
  }
}

TEST_CASE("set_result() racing cancel(): exactly one wins and callbacks run "
          "once",
          "[stress]") {
  for (int rep = 0; rep < repetitions(3000); ++rep) {
    cf::Future<int> f;
    std::atomic<int> callbacks = 0;
    std::atomic<int> late_callbacks = 0;
    f.add_done_callback([&](const cf::Future<int>&) { ++callbacks; });
    std::atomic<bool> set_won = false;
    std::atomic<bool> cancel_won = false;
    {
      std::jthread setter([&] {
        try {
          f.set_result(1);
          set_won = true;
        } catch (const cf::InvalidStateError&) {
        }
      });
      std::jthread canceller([&] { cancel_won = f.cancel(); });
      std::jthread adder([&] {
        f.add_done_callback([&](const cf::Future<int>&) { ++late_callbacks; });
      });
    }
    REQUIRE(set_won != cancel_won);
    REQUIRE(callbacks == 1);
    REQUIRE(late_callbacks == 1);
    REQUIRE(f.done());
    REQUIRE(f.cancelled() == cancel_won.load());
  }
}

TEST_CASE("wait() and as_completed() never miss a concurrent completion",
          "[stress]") {
  std::mt19937 rng(12345);
  for (int rep = 0; rep < repetitions(1000); ++rep) {
    std::vector<cf::Future<int>> fs(6);
    std::vector<cf::Future<int>> shuffled = fs;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    const auto when = static_cast<cf::ReturnWhen>(rep % 3);
    std::jthread finisher([&] {
      for (std::size_t i = 0; i < shuffled.size(); ++i) {
        if (i % 3 == 0) {
          shuffled[i].cancel();
        } else if (i % 3 == 1) {
          shuffled[i].set_exception(
              std::make_exception_ptr(std::runtime_error("e")));
        } else {
          shuffled[i].set_result(static_cast<int>(i));
        }
      }
    });
    auto [done, not_done] = cf::wait(fs, test::hang_guard, when);
    REQUIRE(!done.empty());
    int yielded = 0;
    for (const auto& f : cf::as_completed(fs, test::hang_guard)) {
      REQUIRE(f.done());
      ++yielded;
    }
    REQUIRE(yielded == 6);
  }
}

TEST_CASE("pools survive many threads submitting while others cancel, wait, "
          "add callbacks and shut down",
          "[stress]") {
  std::mt19937 rng(2024);
  for (int rep = 0; rep < repetitions(1000); ++rep) {
    const int workers = 1 + rep % 4;
    const bool cancel_futures = rng() % 2 == 0;
    cf::ThreadPoolExecutor pool(workers);
    std::mutex m;
    std::vector<cf::Future<int>> fs;
    std::atomic<int> callbacks = 0;
    std::atomic<int> rejected = 0;
    std::atomic<bool> stop = false;
    {
      std::vector<std::jthread> threads;
      for (int s = 0; s < 2; ++s) {
        threads.emplace_back([&, s] {
          for (int i = 0; i < 20; ++i) {
            try {
              auto f = pool.submit([i, s] { return i + 100 * s; });
              f.add_done_callback([&](const cf::Future<int>&) { ++callbacks; });
              std::lock_guard lock(m);
              fs.push_back(f);
            } catch (const std::runtime_error&) {
              ++rejected; // shut down under our feet: allowed
            }
          }
        });
      }
      threads.emplace_back([&] { // cancels whatever it finds
        while (!stop) {
          std::vector<cf::Future<int>> snapshot;
          {
            std::lock_guard lock(m);
            snapshot = fs;
          }
          for (std::size_t i = 0; i < snapshot.size(); i += 3) {
            snapshot[i].cancel();
          }
          (void)cf::wait(snapshot, 1ms, cf::FIRST_COMPLETED);
          std::this_thread::yield();
          if (snapshot.size() + static_cast<std::size_t>(rejected) >= 40) {
            break;
          }
        }
      });
      threads.emplace_back([&] { pool.shutdown(false, cancel_futures); });
    }
    stop = true;
    pool.shutdown(true);
    std::lock_guard lock(m);
    REQUIRE(fs.size() + static_cast<std::size_t>(rejected.load()) == 40);
    for (auto& f : fs) {
      REQUIRE(f.done());
      if (!f.cancelled()) {
        REQUIRE(f.exception() == nullptr);
      }
    }
    REQUIRE(callbacks == static_cast<int>(fs.size()));
  }
}

TEST_CASE("submit() racing shutdown(): a call is either rejected or completed",
          "[stress]") {
  for (int rep = 0; rep < repetitions(2000); ++rep) {
    std::optional<cf::Future<int>> f;
    bool rejected = false;
    {
      cf::ThreadPoolExecutor pool(2);
      std::jthread closer([&] { pool.shutdown(rep % 2 == 0, rep % 3 == 0); });
      try {
        f = pool.submit([] { return 1; });
      } catch (const std::runtime_error&) {
        rejected = true;
      }
    }
    if (!rejected) {
      REQUIRE(f->done());
      REQUIRE((f->cancelled() || f->result() == 1));
    }
  }
}

TEST_CASE("map() destroyed mid-iteration while calls complete", "[stress]") {
  cf::ThreadPoolExecutor pool(4);
  std::vector<int> xs(32);
  for (int rep = 0; rep < repetitions(500); ++rep) {
    auto results = pool.map([](int x) { return x + 1; }, xs,
                            cf::MapOptions{.buffersize = 1 + rep % 8});
    int n = 0;
    for (int y : results) {
      REQUIRE(y == 1);
      if (++n == rep % 32) {
        break;
      }
    }
  }
}

TEST_CASE("the futures' one-word lock excludes and wakes every contender",
          "[stress]") {
  // More threads than cores, so that holders are preempted and contenders
  // go past spinning to parking: a lost wake-up hangs here, a broken
  // exclusion loses increments (and TSan reports the plain counter).
  cf::detail::WordLock lock;
  long counter = 0;
  const int per_thread = repetitions(20'000);
  constexpr int threads = 6;
  {
    std::vector<std::jthread> contenders;
    for (int t = 0; t < threads; ++t) {
      contenders.emplace_back([&] {
        for (int i = 0; i < per_thread; ++i) {
          std::lock_guard guard(lock);
          ++counter;
        }
      });
    }
  }
  CHECK(counter == long{threads} * per_thread);
}

TEST_CASE("submit-and-wait in a loop: every result arrives, spinning or "
          "parked",
          "[stress]") {
  // The round trip races the worker's spin budget against the waiter's:
  // each side may find the other polling, or parked, or just giving up.
  cf::ThreadPoolExecutor pool(2);
  const int n = repetitions(20'000);
  long sum = 0;
  for (int i = 0; i < n; ++i) {
    sum += pool.submit([i] { return i % 7; }).result(test::hang_guard);
    if (i % 1000 == 0) {
      std::this_thread::yield(); // let the spinning worker give up now and then
    }
  }
  long expected = 0;
  for (int i = 0; i < n; ++i) {
    expected += i % 7;
  }
  CHECK(sum == expected);
}

TEST_CASE("bursts of submits wake enough parked workers, even when a woken "
          "one finds its task taken",
          "[stress]") {
  // With several workers, a notified thread often loses its task to one
  // that was spinning or just finished; it must then count as parked again,
  // or a later burst is left in the queue with every worker asleep.
  cf::ThreadPoolExecutor pool(4);
  std::mt19937 random(7);
  const int rounds = repetitions(5'000);
  for (int round = 0; round < rounds; ++round) {
    const int burst = 1 + static_cast<int>(random() % 6);
    std::vector<cf::Future<int>> futures;
    for (int i = 0; i < burst; ++i) {
      futures.push_back(pool.submit([i] { return i; }));
    }
    for (int i = 0; i < burst; ++i) {
      REQUIRE(futures[static_cast<std::size_t>(i)].result(test::hang_guard) ==
              i);
    }
  }
}

TEST_CASE("map()'s batches wake enough workers and race shutdown without "
          "losing a call",
          "[stress]") {
  // A batch queues up to 128 calls (more in later batches) under one lock and
  // must wake or start a worker for each that no awake worker will take; a
  // shutdown may land between two batches, which fails map() and cancels what
  // it queued.
  std::mt19937 random(11);
  for (int rep = 0; rep < repetitions(500); ++rep) {
    const auto n = static_cast<std::size_t>(1 + random() % 1000); // 1-4 batches
    const std::vector<int> xs(n, 1);
    cf::ThreadPoolExecutor pool(4);
    const bool cancel = rep % 2 == 0;
    std::jthread closer;
    if (rep % 3 == 0) {
      closer = std::jthread([&] { pool.shutdown(false, cancel); });
    }
    std::optional<cf::MapResults<int>> results;
    try {
      results.emplace(pool.map([](int x) { return x; }, xs,
                               cf::MapOptions{.timeout = test::hang_guard}));
    } catch (const cf::Error&) {
      FAIL("map() raised a library error instead of refusing the calls");
    } catch (const std::runtime_error&) {
      REQUIRE(closer.joinable()); // only a shutdown refuses map()'s calls
      continue;
    }
    if (!closer.joinable()) {
      closer = std::jthread([&] { pool.shutdown(false, cancel); });
    }
    std::size_t ran = 0;
    std::size_t cancelled = 0;
    for (auto it = results->begin(); it != results->end(); ++it) {
      try {
        ran += static_cast<std::size_t>(*it); // a hang: TimeoutError
      } catch (const cf::CancelledError&) {
        ++cancelled;
      }
    }
    REQUIRE(ran + cancelled == n);
    REQUIRE((cancel || cancelled == 0));
  }
}

TEST_CASE("process pool: chunks queued ahead and submits race shutdown and "
          "kill_workers, and every call completes",
          "[stress][process_pool]") {
  // Chunks wait in the workers' shared pipe, counted as running; a shutdown
  // that cancels, a shutdown that waits, or killed workers must still leave
  // every future with a value, a cancellation or BrokenProcessPool.
  for (int rep = 0; rep < repetitions(30); ++rep) {
    const int how = rep % 3;
    cf::ProcessPoolExecutor pool(2);
    const std::vector<int> xs(200, 1);
    auto results =
        pool.map([](int x) { return 2 * x; }, xs,
                 cf::MapOptions{.timeout = test::hang_guard, .chunksize = 3});
    std::vector<cf::Future<int>> calls;
    for (int i = 0; i < 10; ++i) {
      calls.push_back(pool.submit([](int x) { return x; }, i));
    }
    std::jthread stopper([&] {
      if (how == 0) {
        pool.shutdown(false, true);
      } else if (how == 1) {
        pool.kill_workers();
      } else {
        pool.shutdown(true);
      }
    });
    std::size_t ran = 0;
    std::size_t cancelled = 0;
    std::size_t broken = 0;
    for (auto it = results.begin(); it != results.end(); ++it) {
      try {
        ran += *it == 2 ? 1 : 0; // a hang: TimeoutError
      } catch (const cf::CancelledError&) {
        ++cancelled;
      } catch (const cf::BrokenProcessPool&) {
        ++broken;
      }
    }
    REQUIRE(ran + cancelled + broken == xs.size());
    REQUIRE(cf::wait(calls, test::hang_guard).not_done.empty());
    if (how == 2) {
      REQUIRE(ran == xs.size()); // a waiting shutdown runs everything
    }
  }
}

// The process pool's shared-memory channels, driven by threads of one
// process through one mapping, so that the sanitizers see both sides.

TEST_CASE("the ring of calls gives each call to one taker, in order, across "
          "laps, and wakes sleeping takers",
          "[stress][process_pool]") {
  using cf::detail::CallRing;
  constexpr std::size_t slots = 8;
  constexpr std::size_t slot_bytes = 64;
  const std::uint64_t calls = static_cast<std::uint64_t>(repetitions(20000));
  CallRing ring = CallRing::create(slots, slot_bytes);
  std::vector<std::atomic<int>> times_taken(calls);
  std::atomic<std::uint64_t> answered = 0;
  std::atomic<std::uint64_t> large_taken = 0;
  std::atomic<bool> out_of_order = false;
  const auto taker = [&](bool spins) {
    std::string frame;
    std::optional<std::uint64_t> last;
    for (;;) {
      // Without spinning a taker sleeps at once: the futex path.
      const auto took = ring.take(frame, [spins](auto&& ready) {
        return spins && cf::detail::spin_until(ready);
      });
      if (took == CallRing::Take::closed) {
        return;
      }
      if (took == CallRing::Take::in_pipe) { // too large for a slot
        ++large_taken;
      } else {
        std::uint64_t n = 0;
        std::memcpy(&n, frame.data(), std::min(frame.size(), sizeof n));
        if (n >= calls || (last && n <= *last)) {
          out_of_order = true; // each taker sees calls in the ring's order
        } else {
          ++times_taken[n];
        }
        last = n;
      }
      ++answered;
    }
  };
  std::vector<std::jthread> takers;
  for (int i = 0; i < 3; ++i) {
    takers.emplace_back(taker, i != 0);
  }
  std::mt19937 random(42);
  std::uint64_t large = 0;
  bool stuck = false; // a call lost: the takers never answer
  for (std::uint64_t n = 0; n < calls && !stuck; ++n) {
    // As the pool: no more calls out than slots, and a slot a slow taker
    // has not finished copying is waited for.
    if (n - answered.load() >= slots || !ring.has_room()) {
      ring.publish(); // the pool publishes each round before it waits
      const auto guard = std::chrono::steady_clock::now() + test::hang_guard;
      while (!stuck && (n - answered.load() >= slots || !ring.has_room())) {
        std::this_thread::yield();
        stuck = std::chrono::steady_clock::now() > guard;
      }
      if (stuck) {
        break;
      }
    }
    const bool too_large = random() % 16 == 0;
    const std::string body(too_large ? slot_bytes + 1 : random() % 32, 'x');
    large += too_large ? 1 : 0;
    ring.push(std::string_view(reinterpret_cast<const char*>(&n), sizeof n),
              body);
    if (random() % 4 == 0) {
      ring.publish(); // sometimes several calls per wake-up, as the pool
    }
  }
  ring.close();
  takers.clear();
  REQUIRE_FALSE(stuck);
  REQUIRE(answered == calls);
  REQUIRE(ring.all_taken());
  std::uint64_t once = 0;
  for (std::uint64_t n = 0; n < calls; ++n) {
    REQUIRE(times_taken[n] <= 1);
    once += static_cast<std::uint64_t>(times_taken[n].load());
  }
  REQUIRE(once == calls - large);
  REQUIRE(large_taken == large);
  REQUIRE_FALSE(out_of_order);
}

TEST_CASE("the ring of replies delivers every record once, in order, across "
          "its end, and a sleeping reader is always told",
          "[stress][process_pool]") {
  using cf::detail::ReplyRing;
  ReplyRing ring = ReplyRing::create(1024);
  const std::uint64_t records = static_cast<std::uint64_t>(repetitions(20000));
  std::counting_semaphore<> doorbell(0); // the worker's pipe, in the pool
  std::atomic<bool> done = false;
  std::jthread writer([&] {
    std::mt19937 random(7);
    for (std::uint64_t n = 0; n < records;) {
      const std::string body(random() % 200, static_cast<char>('a' + n % 26));
      if (!ring.try_push(
              std::string_view(reinterpret_cast<const char*>(&n), sizeof n),
              body)) {
        std::this_thread::yield(); // full: the pool would use the pipe
        continue;
      }
      if (ring.reader_sleeps()) {
        doorbell.release();
      }
      ++n;
    }
    done = true;
    doorbell.release();
  });
  std::uint64_t expected = 0;
  bool corrupt = false;
  while (expected < records) {
    const bool readable = ring.drain([&](std::string_view record) {
      std::uint64_t n = 0;
      std::memcpy(&n, record.data(), sizeof n);
      const std::string_view body = record.substr(sizeof n);
      if (n != expected || body.find_first_not_of(static_cast<char>(
                               'a' + n % 26)) != std::string_view::npos) {
        corrupt = true;
      }
      ++expected;
    });
    REQUIRE(readable);
    REQUIRE_FALSE(corrupt);
    if (expected < records && ring.sleep_unless_record()) {
      // A lost wake-up hangs here: the hang guard fails the test.
      REQUIRE((doorbell.try_acquire_for(test::hang_guard) || done));
      ring.woke();
    }
  }
  REQUIRE(expected == records);
}
