#pragma once
// The state behind every Future: CPython's `_base.Future` minus the public
// face. One mutex guards the status, the outcome, the done callbacks and the
// registered waiters. User code (callbacks) never runs under that mutex.

#include <concurrent/futures/detail/deadline.hpp>
#include <concurrent/futures/detail/type_name.hpp>
#include <concurrent/futures/detail/waiter.hpp>
#include <concurrent/futures/detail/wire.hpp>
#include <concurrent/futures/errors.hpp>

#include <algorithm>
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
#include <variant>
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
  /// arguments). Throws `SerializationError` if it cannot cross.
  virtual std::string encode_call() {
    throw SerializationError("this future has no call to send");
  }

  /// For pools whose workers must not share objects with the caller (the
  /// interpreter pool): encodes the call now, so that `execute()` decodes
  /// its own copy in the worker, runs it through `run_isolated`, and
  /// `publish()` decodes the result. Throws `SerializationError` if the call
  /// cannot cross.
  virtual void isolate() {
    throw SerializationError("this future has no call to isolate");
  }

  /// Completes the future with a result encoded by the worker that ran the
  /// call elsewhere; undecodable bytes finish it with `SerializationError`.
  virtual void publish_encoded(const Ptr& /*self*/,
                               std::string_view /*result*/) noexcept {}

  Status status() const {
    std::lock_guard lock(mutex_);
    return status_;
  }

  bool cancel(const Ptr& self) {
    std::vector<Callback> callbacks;
    {
      std::lock_guard lock(mutex_);
      if (status_ == Status::running || status_ == Status::finished) {
        return false;
      }
      if (is_cancelled(status_)) {
        return true;
      }
      status_ = Status::cancelled;
      // A cancelled future is done from this moment, so its waiters wake
      // now rather than when the executor notices.
      notify_waiters(/*failed=*/false);
      callbacks.swap(callbacks_);
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
    was = status_;
    if (status_ == Status::pending) {
      status_ = Status::running;
      return true;
    }
    if (status_ == Status::cancelled) {
      status_ = Status::cancelled_and_notified;
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
      if (is_done(status_)) {
        return false;
      }
      if (error) {
        exception_ = std::move(error);
      } else {
        std::forward<Store>(store)();
      }
      status_ = Status::finished;
      notify_waiters(exception_ != nullptr);
      callbacks.swap(callbacks_);
    }
    run_callbacks(self, callbacks);
    return true;
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
      if (!is_done(status_)) {
        callbacks_.push_back(std::move(callback));
        return;
      }
    }
    invoke_callback(self, callback);
  }

  /// Registers `waiter` unless the future is already done; returns whether
  /// it was done (then the waiter was not registered).
  bool add_waiter(Waiter* waiter) {
    std::lock_guard lock(mutex_);
    if (is_done(status_)) {
      return true;
    }
    waiters_.push_back(waiter);
    return false;
  }

  void remove_waiter(Waiter* waiter) {
    std::lock_guard lock(mutex_);
    std::erase(waiters_, waiter);
  }

  /// Blocks until done or the deadline; returns whether done.
  bool wait(const Deadline& deadline) {
    if (is_done(status())) {
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
    std::lock_guard lock(mutex_);
    if (is_cancelled(status_)) {
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
  bool failed() const {
    std::lock_guard lock(mutex_);
    return status_ == Status::finished && exception_ != nullptr;
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
    for (Waiter* waiter : waiters_) {
      waiter->notify(this, failed);
    }
    waiters_.clear();
    waiters_.shrink_to_fit();
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

  mutable std::mutex mutex_;
  Status status_ = Status::pending;
  std::exception_ptr exception_;
  std::vector<Callback> callbacks_;
  std::vector<Waiter*> waiters_;
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

protected:
  void store(T&& value) { value_.emplace(std::move(value)); }

private:
  std::optional<T> value_;
};

template <> class SharedState<void> : public StateBase {
public:
  void set_value(const Ptr& self) {
    finish(
        self, [] {}, nullptr);
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
      : slot_(std::in_place_index<call>, std::piecewise_construct,
              std::forward_as_tuple(std::forward<G>(fn)),
              std::forward_as_tuple(std::forward<A>(args)...)) {}

  void execute() noexcept override {
    const bool isolated = slot_.index() == encoded_call;
    // Not started if cancelled, already failed by a broken pool, or sent
    // to another process (then the call is no longer here).
    if (Status was{};
        (slot_.index() != call && !isolated) || !this->try_start(was)) {
      slot_.template emplace<empty>();
      return;
    }
    if (isolated) {
      std::string bytes = std::move(std::get<encoded_call>(slot_));
      try {
        slot_.template emplace<encoded_result>(run_isolated(bytes));
      } catch (...) {
        slot_.template emplace<error>(std::current_exception());
      }
      return;
    }
    try {
      F& fn = std::get<call>(slot_).first;
      std::tuple<Args...>& args = std::get<call>(slot_).second;
      if constexpr (std::is_void_v<R>) {
        std::apply(
            [&](Args&... a) { std::invoke(std::move(fn), std::move(a)...); },
            args);
        slot_.template emplace<value>();
      } else {
        R result = std::apply(
            [&](Args&... a) -> R {
              return std::invoke(std::move(fn), std::move(a)...);
            },
            args);
        slot_.template emplace<value>(std::move(result));
      }
    } catch (...) {
      slot_.template emplace<error>(std::current_exception());
    }
  }

  void publish(const StateBase::Ptr& self) noexcept override {
    if (slot_.index() == encoded_result) {
      const std::string bytes = std::move(std::get<encoded_result>(slot_));
      publish_encoded(self, bytes);
      return;
    }
    if (slot_.index() == value) {
      this->try_finish(
          self,
          [&] {
            if constexpr (!std::is_void_v<R>) {
              this->store(std::move(std::get<value>(slot_)));
            }
          },
          nullptr);
    } else if (slot_.index() == error) {
      this->try_finish(
          self, [] {}, std::get<error>(slot_));
    }
    slot_.template emplace<empty>();
  }

  std::string encode_call() override {
    if constexpr (crosses) {
      OutputArchive out;
      encode_entry(out, task_entry<R, F, Args...>);
      const Call& c = std::get<call>(slot_);
      out(c.first);
      std::apply([&](const Args&... args) { (out(args), ...); }, c.second);
      slot_.template emplace<empty>(); // the bytes are the call from now on
      return std::move(out).bytes();
    } else {
      throw SerializationError(
          "cannot send this call to another process: the callable, an "
          "argument or the result is not transferable (callable type " +
          demangle(typeid(F).name()) + ")");
    }
  }

  void isolate() override {
    slot_.template emplace<encoded_call>(encode_call());
  }

  void publish_encoded(const StateBase::Ptr& self,
                       std::string_view result) noexcept override {
    slot_.template emplace<empty>();
    if constexpr (crosses) {
      try {
        InputArchive in(result);
        if constexpr (std::is_void_v<R>) {
          if (!in.at_end()) {
            throw SerializationError("corrupted result: bytes left over");
          }
          this->try_finish(
              self, [] {}, nullptr);
        } else {
          R value = deserialize<R>(result);
          this->try_finish(
              self, [&] { this->store(std::move(value)); }, nullptr);
        }
      } catch (...) {
        this->try_finish(
            self, [] {}, std::current_exception());
      }
    } else {
      (void)self;
      (void)result;
    }
  }

private:
  static constexpr bool crosses = transferable<F> &&
                                  (transferable<Args> && ...) &&
                                  (std::is_void_v<R> || transferable<R>);

  enum : std::size_t {
    empty,
    call,
    value,
    error,
    encoded_call,  // isolate(): the call as bytes, decoded by the worker
    encoded_result // what run_isolated returned, decoded by publish()
  };
  using Call = std::pair<F, std::tuple<Args...>>;
  using Value = std::conditional_t<std::is_void_v<R>, std::monostate, R>;
  std::variant<std::monostate, Call, Value, std::exception_ptr, std::string,
               std::string>
      slot_;
};

} // namespace concurrent::futures::detail
