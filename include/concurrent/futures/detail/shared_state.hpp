#pragma once
// The state behind every Future: CPython's `_base.Future` minus the public
// face. One lock guards the status, the outcome, the done callbacks and the
// registered waiters. User code (callbacks) never runs under that lock.
// The status is also readable without the lock: it becomes done (release)
// only after the outcome is written, so whoever sees it done (acquire) may
// read the outcome, which never changes again.

#include <concurrent/futures/detail/deadline.hpp>
#include <concurrent/futures/detail/spin.hpp>
#include <concurrent/futures/detail/type_name.hpp>
#include <concurrent/futures/detail/waiter.hpp>
#include <concurrent/futures/detail/wire.hpp>
#include <concurrent/futures/detail/word_lock.hpp>
#include <concurrent/futures/errors.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace concurrent::futures::detail {

/// CPython's states. `cancelled` becomes `cancelled_and_notified` once the
/// executor has seen the cancellation (`set_running_or_notify_cancel`).
enum class Status : unsigned char {
  pending,
  running,
  cancelled,
  cancelled_and_notified,
  finished
};

constexpr bool is_done(Status s) noexcept {
  return s == Status::cancelled || s == Status::cancelled_and_notified ||
         s == Status::finished;
}

constexpr bool is_cancelled(Status s) noexcept {
  return s == Status::cancelled || s == Status::cancelled_and_notified;
}

/// Reports an exception nobody can receive (from a done callback, from a
/// pool's initializer): like CPython's `LOGGER.exception(...)`, it goes to
/// stderr and goes no further.
inline void report_exception(const char* context,
                             std::exception_ptr error) noexcept {
  try {
    std::rethrow_exception(std::move(error));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "concurrent::futures: %s: %s\n", context, e.what());
  } catch (...) {
    std::fprintf(stderr, "concurrent::futures: %s: (not a std::exception)\n",
                 context);
  }
}

class StateBase {
public:
  using Ptr = std::shared_ptr<StateBase>;
  using Callback = std::function<void(const Ptr&)>;

  StateBase() = default;
  StateBase(const StateBase&) = delete;
  StateBase& operator=(const StateBase&) = delete;
  virtual ~StateBase() = default;

  /// States made by an executor own the call that completes them. The
  /// executor calls `execute()` then `publish(self)`, exactly once each, even
  /// for a cancelled future (the call is then just released). Between the
  /// two, the outcome exists but nobody can see it yet: a pool uses that gap
  /// to mark its worker free before a waiter can submit more work. A plain
  /// future owns no call.
  virtual void execute() noexcept {}
  virtual void publish(const Ptr& /*self*/) noexcept {}

  void run(const Ptr& self) noexcept {
    execute();
    publish(self);
  }

  /// For pools that run the call in another process: takes the call out as
  /// bytes (a reference to the code that runs it, then the callable and the
  /// arguments), written over `buffer` (its capacity is reused). Throws
  /// `SerializationError` if it cannot cross.
  virtual std::string encode_call(std::string /*buffer*/ = {}) {
    throw SerializationError("this future has no call to send");
  }

  /// Runs an encoded call in the calling thread and returns its encoded
  /// result (`run_isolated`).
  using IsolatedRunner = std::string (*)(std::string_view call);

  /// For pools whose workers must not share objects with the caller (the
  /// interpreter pool): encodes the call now, so that `execute()` has `run`
  /// decode its own copy in the worker, and `publish()` decodes the result.
  /// (The pool names the runner, so that code that never isolates does not
  /// compile it.) Throws `SerializationError` if the call cannot cross.
  virtual void isolate(IsolatedRunner /*run*/) {
    throw SerializationError("this future has no call to isolate");
  }

  /// Completes the future with a result encoded by the worker that ran the
  /// call elsewhere; undecodable bytes finish it with `SerializationError`.
  virtual void publish_encoded(const Ptr& /*self*/,
                               std::string_view /*result*/) noexcept {}

  Status status() const noexcept {
    return status_.load(std::memory_order_acquire);
  }

  bool cancel(const Ptr& self) {
    std::vector<Callback> callbacks;
    {
      std::lock_guard lock(mutex_);
      const Status now = status();
      if (now == Status::running || now == Status::finished) {
        return false;
      }
      if (is_cancelled(now)) {
        return true;
      }
      status_.store(Status::cancelled, std::memory_order_release);
      // A cancelled future is done from this moment, so its waiters wake
      // now rather than when the executor notices.
      notify_waiters(/*failed=*/false);
      take_callbacks(callbacks);
    }
    run_callbacks(self, callbacks);
    return true;
  }

  bool set_running_or_notify_cancel() {
    Status was = Status::pending;
    if (try_start(was)) {
      return true;
    }
    if (is_cancelled(was)) {
      return false;
    }
    throw InvalidStateError(std::string("future in unexpected state: ") +
                            status_name(was));
  }

  /// Moves a pending future to running and returns true; otherwise returns
  /// false, notes a cancellation as seen, and reports the old status.
  bool try_start(Status& was) noexcept {
    std::lock_guard lock(mutex_);
    was = status();
    if (was == Status::pending) {
      status_.store(Status::running, std::memory_order_release);
      return true;
    }
    if (was == Status::cancelled) {
      status_.store(Status::cancelled_and_notified, std::memory_order_release);
    }
    return false;
  }

  /// Completes the future with the outcome that `store` writes (under the
  /// lock) or with `error`. Returns false, changing nothing, if it was done.
  template <class Store>
  bool try_finish(const Ptr& self, Store&& store, std::exception_ptr error) {
    std::vector<Callback> callbacks;
    {
      std::lock_guard lock(mutex_);
      if (is_done(status())) {
        return false;
      }
      if (error) {
        exception_ = std::move(error);
      } else {
        std::forward<Store>(store)();
      }
      status_.store(Status::finished, std::memory_order_release);
      notify_waiters(exception_ != nullptr);
      take_callbacks(callbacks);
    }
    run_callbacks(self, callbacks);
    return true;
  }

  /// Completes the future with `error`; false if it was done.
  bool try_fail(const Ptr& self, std::exception_ptr error) {
    return try_finish(
        self, [] {}, std::move(error));
  }

  template <class Store>
  void finish(const Ptr& self, Store&& store, std::exception_ptr error) {
    if (!try_finish(self, std::forward<Store>(store), std::move(error))) {
      throw InvalidStateError(std::string("future is already ") +
                              status_name(status()));
    }
  }

  void add_done_callback(const Ptr& self, Callback callback) {
    {
      std::lock_guard lock(mutex_);
      if (!is_done(status())) {
        listeners().callbacks.push_back(std::move(callback));
        return;
      }
    }
    invoke_callback(self, callback);
  }

  /// Registers `waiter` unless the future is already done; returns whether
  /// it was done (then the waiter was not registered).
  bool add_waiter(Waiter* waiter) {
    std::lock_guard lock(mutex_);
    if (is_done(status())) {
      return true;
    }
    listeners().waiters.push_back(waiter);
    return false;
  }

  void remove_waiter(Waiter* waiter) {
    std::lock_guard lock(mutex_);
    if (listeners_) {
      std::erase(listeners_->waiters, waiter);
    }
  }

  /// Blocks until done or the deadline; returns whether done. Polls for a
  /// moment first: most tasks finish sooner than a parked thread wakes.
  bool wait(const Deadline& deadline) {
    if (spin_until([this] { return is_done(status()); })) {
      return true;
    }
    Waiter waiter;
    if (add_waiter(&waiter)) {
      return true;
    }
    const bool done = waiter.wait(1, false, deadline) >= 1;
    remove_waiter(&waiter);
    return done;
  }

  /// The outcome, once done: throws `CancelledError` if cancelled, else the
  /// exception it finished with (null for a value).
  std::exception_ptr outcome() const {
    if (is_cancelled(status())) {
      throw CancelledError();
    }
    return exception_;
  }

  /// Waits for the outcome; `TimeoutError` if the deadline passes first.
  std::exception_ptr await_outcome(const Deadline& deadline) {
    if (!wait(deadline)) {
      throw TimeoutError();
    }
    return outcome();
  }

  /// Whether it finished with an exception (false while not finished).
  bool failed() const noexcept {
    return status() == Status::finished && exception_ != nullptr;
  }

private:
  static const char* status_name(Status s) noexcept {
    switch (s) {
    case Status::pending:
      return "pending";
    case Status::running:
      return "running";
    case Status::cancelled:
    case Status::cancelled_and_notified:
      return "cancelled";
    case Status::finished:
      break;
    }
    return "finished";
  }

  // Called with the lock held. A done future is never waited on again, so
  // its waiters are dropped here and nobody has to remove them later.
  void notify_waiters(bool failed) {
    if (listeners_) {
      for (Waiter* waiter : listeners_->waiters) {
        waiter->notify(this, failed);
      }
      listeners_->waiters.clear();
    }
  }

  // Called with the lock held, once done: nobody registers again.
  void take_callbacks(std::vector<Callback>& callbacks) {
    if (listeners_) {
      callbacks.swap(listeners_->callbacks);
      listeners_.reset();
    }
  }

  // Most futures are never waited on by a parked thread nor given a callback,
  // so the lists live outside the state until first needed.
  struct Listeners {
    std::vector<Callback> callbacks;
    std::vector<Waiter*> waiters;
  };

  Listeners& listeners() {
    if (!listeners_) {
      listeners_ = std::make_unique<Listeners>();
    }
    return *listeners_;
  }

  static void invoke_callback(const Ptr& self,
                              const Callback& callback) noexcept {
    try {
      callback(self);
    } catch (...) {
      report_exception("exception calling callback for future",
                       std::current_exception());
    }
  }

  static void run_callbacks(const Ptr& self,
                            const std::vector<Callback>& callbacks) noexcept {
    for (const auto& callback : callbacks) {
      invoke_callback(self, callback);
    }
  }

  WordLock mutex_;
  std::atomic<Status> status_ = Status::pending;
  std::exception_ptr exception_;
  std::unique_ptr<Listeners> listeners_;
};

/// The typed part: where the result lives. It is written once under the
/// lock before the status becomes `finished` and never written again, so
/// readers that have seen `finished` may read it without the lock.
template <class T> class SharedState : public StateBase {
public:
  void set_value(const Ptr& self, T value) {
    finish(
        self, [&] { value_.emplace(std::move(value)); }, nullptr);
  }
  const T& value() const { return *value_; }
  T& value() { return *value_; }

  /// Completes the future with `value`; false if it was done.
  bool try_set_value(const Ptr& self, T&& value) {
    return try_finish(
        self, [&] { value_.emplace(std::move(value)); }, nullptr);
  }

  // Here rather than in TaskState, like try_set_value: both depend only on
  // the result's type, so every callable returning a T shares one copy.
  void publish_encoded(const Ptr& self,
                       std::string_view result) noexcept override {
    if constexpr (transferable<T>) { // otherwise no call of this kind crosses
      try {
        try_set_value(self, deserialize<T>(result));
      } catch (...) {
        try_fail(self, std::current_exception());
      }
    } else {
      (void)self;
      (void)result;
    }
  }

private:
  std::optional<T> value_;
};

template <> class SharedState<void> : public StateBase {
public:
  void set_value(const Ptr& self) {
    finish(
        self, [] {}, nullptr);
  }

  bool try_set_value(const Ptr& self) {
    return try_finish(
        self, [] {}, nullptr);
  }

  void publish_encoded(const Ptr& self,
                       std::string_view result) noexcept override {
    if (result.empty()) {
      try_set_value(self);
    } else {
      try_fail(self, std::make_exception_ptr(SerializationError(
                         "corrupted result: bytes left over")));
    }
  }
};

/// A state made by `Executor::submit`: it owns the call, then its outcome
/// until published. One slot holds whichever of the two exists, so that the
/// call's arguments are released as soon as it has run.
template <class R, class F, class... Args>
class TaskState final : public SharedState<R> {
public:
  template <class G, class... A>
  explicit TaskState(G&& fn, A&&... args)
      : call_(std::forward<G>(fn), std::forward<A>(args)...),
        holds_(Holds::call) {}

  ~TaskState() override { clear(); }

  void execute() noexcept override {
    const bool isolated = holds_ == Holds::encoded_call;
    // Not started if cancelled, already failed by a broken pool, or sent
    // to another process (then the call is no longer here).
    if (Status was{};
        (holds_ != Holds::call && !isolated) || !this->try_start(was)) {
      clear();
      return;
    }
    if (isolated) {
      const Encoded encoded = take_encoded();
      try {
        hold_encoded(Holds::encoded_result,
                     new Isolated{encoded->run(encoded->bytes), nullptr});
      } catch (...) {
        hold_error(std::current_exception());
      }
      return;
    }
    try {
      if constexpr (std::is_void_v<R>) {
        std::apply(
            [&](Args&... a) {
              std::invoke(std::move(call_.fn), std::move(a)...);
            },
            call_.args);
        clear();
        std::construct_at(&value_);
      } else {
        R result = std::apply(
            [&](Args&... a) -> R {
              return std::invoke(std::move(call_.fn), std::move(a)...);
            },
            call_.args);
        clear();
        std::construct_at(&value_, std::move(result));
      }
      holds_ = Holds::value;
    } catch (...) {
      hold_error(std::current_exception());
    }
  }

  void publish(const StateBase::Ptr& self) noexcept override {
    if (holds_ == Holds::encoded_result) {
      const Encoded result = take_encoded();
      this->publish_encoded(self, result->bytes);
      return;
    }
    if (holds_ == Holds::value) {
      if constexpr (std::is_void_v<R>) {
        this->try_set_value(self);
      } else {
        this->try_set_value(self, std::move(value_));
      }
    } else if (holds_ == Holds::error) {
      this->try_fail(self, error_);
    }
    clear();
  }

  std::string encode_call(std::string buffer = {}) override {
    if constexpr (crosses) {
      OutputArchive out(std::move(buffer));
      encode_entry(out, task_entry<R, F, Args...>);
      out(call_.fn);
      std::apply([&](const Args&... args) { (out(args), ...); }, call_.args);
      clear(); // the bytes are the call from now on
      return std::move(out).bytes();
    } else {
      (void)buffer;
      throw SerializationError(
          "cannot send this call to another process: the callable, an "
          "argument or the result is not transferable (callable type " +
          demangle(typeid(F).name()) + ")");
    }
  }

  void isolate(StateBase::IsolatedRunner run) override {
    hold_encoded(Holds::encoded_call, new Isolated{encode_call(), run});
  }

private:
  static constexpr bool crosses = transferable<F> &&
                                  (transferable<Args> && ...) &&
                                  (std::is_void_v<R> || transferable<R>);

  // An empty callable or an empty argument list takes no room.
  struct Call {
    template <class G, class... A>
    explicit Call(G&& g, A&&... a)
        : fn(std::forward<G>(g)), args(std::forward<A>(a)...) {}
    [[no_unique_address]] F fn;
    [[no_unique_address]] std::tuple<Args...> args;
  };
  struct Nothing {};
  using Value = std::conditional_t<std::is_void_v<R>, Nothing, R>;
  // Only the interpreter pool needs these; boxed, they cost a queued task
  // eight bytes instead of forty.
  struct Isolated {
    std::string bytes;
    StateBase::IsolatedRunner run;
  };
  using Encoded = std::unique_ptr<Isolated>;

  // A tagged union rather than a std::variant: the slot's type is new for
  // every callable submitted, and a std::variant of it cost each one about
  // a fifth of its compile time.
  enum class Holds : unsigned char {
    nothing,
    call,
    value,
    error,
    encoded_call,  // isolate(): the call as bytes, decoded by the worker
    encoded_result // what run_isolated returned, decoded by publish()
  };

  void clear() noexcept {
    switch (holds_) {
    case Holds::nothing:
      return;
    case Holds::call:
      std::destroy_at(&call_);
      break;
    case Holds::value:
      std::destroy_at(&value_);
      break;
    case Holds::error:
      std::destroy_at(&error_);
      break;
    case Holds::encoded_call:
    case Holds::encoded_result:
      std::destroy_at(&encoded_);
      break;
    }
    holds_ = Holds::nothing;
  }

  void hold_error(std::exception_ptr error) noexcept {
    clear();
    std::construct_at(&error_, std::move(error));
    holds_ = Holds::error;
  }

  void hold_encoded(Holds which, Isolated* encoded) noexcept {
    clear();
    std::construct_at(&encoded_, encoded);
    holds_ = which;
  }

  Encoded take_encoded() noexcept {
    Encoded encoded = std::move(encoded_);
    clear();
    return encoded;
  }

  union {
    Call call_;
    Value value_;
    std::exception_ptr error_;
    Encoded encoded_;
  };
  Holds holds_;
};

} // namespace concurrent::futures::detail
