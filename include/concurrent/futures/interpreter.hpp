#pragma once
/// \file
/// `InterpreterPoolExecutor`: a thread pool whose workers share nothing with
/// the caller (Python's `concurrent.futures.InterpreterPoolExecutor`), each
/// with its own `WorkerContext` and, optionally, its own copy of a shared
/// library loaded with `dlmopen`.

#include <concurrent/futures/call.hpp>
#include <concurrent/futures/detail/wire.hpp>
#include <concurrent/futures/errors.hpp>
#include <concurrent/futures/executor.hpp>
#include <concurrent/futures/serialization.hpp>
#include <concurrent/futures/thread.hpp>

#include <any>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeindex>
#include <unordered_map>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <dlfcn.h>
#endif

namespace concurrent::futures {

/// glibc has 16 link-map namespaces, one of them the program's own: at most
/// this many workers can each load their own copy of a library.
inline constexpr int max_isolated_library_workers = 15;

/// What belongs to one worker of an `InterpreterPoolExecutor` and to no
/// other: the analogue of an interpreter's globals. It lives as long as the
/// worker thread; the pool's initializer runs inside it, and so does every
/// task that worker runs. Reach it from a task with `cf::this_worker()`.
///
/// \code
///   void connect(std::string url) { cf::this_worker().emplace<Db>(url); }
///   int query(int id) { return cf::this_worker().get<Db>().lookup(id); }
///   cf::InterpreterPoolExecutor pool({.initializer = cf::call(connect, url)});
/// \endcode
class WorkerContext {
public:
  WorkerContext(const WorkerContext&) = delete;
  WorkerContext& operator=(const WorkerContext&) = delete;
  ~WorkerContext() {
    values_.clear(); // before the library whose code they may use
#if defined(__linux__)
    if (library_ != nullptr) {
      ::dlclose(library_);
    }
#endif
  }

  /// Stores a new `T` (replacing any) and returns it.
  template <class T, class... Args> T& emplace(Args&&... args) {
    std::any& slot = values_[std::type_index(typeid(T))];
    return slot.emplace<T>(std::forward<Args>(args)...);
  }

  /// This worker's `T`, default-constructed on first use.
  template <class T> T& get() {
    if (T* found = find<T>()) {
      return *found;
    }
    return emplace<T>();
  }

  /// This worker's `T`, or null if it has none.
  template <class T> T* find() {
    const auto it = values_.find(std::type_index(typeid(T)));
    return it == values_.end() ? nullptr : std::any_cast<T>(&it->second);
  }

  /// The function `name` of this worker's own copy of the pool's isolated
  /// library, as a `Signature*` (say `int(int)`). Throws `std::logic_error`
  /// if the pool has no isolated library, `std::runtime_error` if the
  /// library has no such symbol.
  template <class Signature>
  requires std::is_function_v<Signature> Signature*
  symbol(const std::string& name) const {
#if defined(__linux__)
    if (library_ == nullptr) {
      throw std::logic_error("this pool has no isolated_library");
    }
    void* address = ::dlsym(library_, name.c_str());
    if (address == nullptr) {
      throw std::runtime_error("no symbol '" + name + "' in " + path_);
    }
    return reinterpret_cast<Signature*>(address);
#else
    (void)name;
    throw std::logic_error("isolated libraries need Linux (dlmopen)");
#endif
  }

private:
  friend class InterpreterPoolExecutor;

  explicit WorkerContext(const std::string& library) : path_(library) {
    if (library.empty()) {
      return;
    }
#if defined(__linux__)
    library_ = ::dlmopen(LM_ID_NEWLM, library.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library_ == nullptr) {
      const char* why = ::dlerror();
      throw std::runtime_error(
          "cannot load '" + library +
          "' into a new link-map namespace: " + (why != nullptr ? why : "?") +
          " (glibc allows " + std::to_string(max_isolated_library_workers) +
          " such namespaces per process)");
    }
#else
    throw std::runtime_error("isolated libraries need Linux (dlmopen)");
#endif
  }

  std::unordered_map<std::type_index, std::any> values_;
  std::string path_;
  void* library_ = nullptr;
};

namespace detail {
inline thread_local std::unique_ptr<WorkerContext> current_worker_context;
} // namespace detail

/// The context of the interpreter-pool worker running the calling task.
/// Throws `std::logic_error` anywhere else.
inline WorkerContext& this_worker() {
  if (!detail::current_worker_context) {
    throw std::logic_error(
        "cf::this_worker() called outside an InterpreterPoolExecutor worker");
  }
  return *detail::current_worker_context;
}

/// A transferable callable that calls the function `symbol` of the worker's
/// own copy of the pool's isolated library:
/// `pool.submit(cf::library_function<int(int)>("counter_add"), 5)`.
template <class Signature> struct LibraryFunction;

template <class R, class... Args> struct LibraryFunction<R(Args...)> {
  std::string symbol;

  R operator()(Args... args) const {
    return this_worker().symbol<R(Args...)>(symbol)(args...);
  }
  template <class Archive> void serialize(Archive& ar) { ar(symbol); }
};

/// `cf::library_function<int(int)>("name")`.
template <class Signature>
[[nodiscard]] LibraryFunction<Signature> library_function(std::string symbol) {
  return {std::move(symbol)};
}

/// Options of `InterpreterPoolExecutor`, in the order designated
/// initializers must follow.
struct InterpreterPoolOptions {
  /// Most workers (`>= 1`); no value: min(32, usable CPUs + 4).
  std::optional<int> max_workers{};
  /// Threads are named `<prefix>_<n>`; empty: `InterpreterPoolExecutor-<k>`.
  std::string thread_name_prefix{};
  /// Run in each worker's context before its first task
  /// (`cf::call(fn, args...)`). If it throws, the pool is broken: pending and
  /// later calls fail with `BrokenInterpreterPool`.
  std::optional<Call> initializer{};
  /// A shared library that each worker loads into its own link-map
  /// namespace (`dlmopen`): every worker has its own copy of its global and
  /// static state. At most `max_isolated_library_workers` workers.
  std::string isolated_library{};
};

/// A `ThreadPoolExecutor` whose workers share no object with the caller: the
/// callable, the arguments and the result are copied in and out through the
/// serialization layer (so they must be transferable), each worker has its
/// own `WorkerContext`, and a task's exception comes back as a fresh copy
/// (the same type with an `ExecutionFailed` nested as its cause, or
/// `ExecutionFailed` for types this library does not know).
class InterpreterPoolExecutor : public ThreadPoolExecutor {
public:
  using Options = InterpreterPoolOptions;

  InterpreterPoolExecutor() : InterpreterPoolExecutor(Options{}) {}

  /// Throws `std::invalid_argument` if `max_workers <= 0`.
  explicit InterpreterPoolExecutor(int max_workers)
      : InterpreterPoolExecutor(Options{.max_workers = max_workers}) {}

  /// Throws `std::invalid_argument` if `max_workers <= 0`, or if an
  /// isolated library is given with more workers than glibc has namespaces.
  explicit InterpreterPoolExecutor(Options options)
      : ThreadPoolExecutor(thread_options(options)) {
    if (!options.isolated_library.empty() &&
        max_workers() > max_isolated_library_workers) {
      join_before_destruction();
      throw std::invalid_argument(
          "an isolated_library needs one link-map namespace per worker, and "
          "glibc has " +
          std::to_string(max_isolated_library_workers) +
          ": max_workers must be at most that");
    }
  }

  ~InterpreterPoolExecutor() override { join_before_destruction(); }

  /// As `Executor::submit`; a callable, argument or result that cannot be
  /// copied into a worker is a compile error here.
  template <class F, class... Args>
  requires submittable<F, Args...>
  [[nodiscard]] Future<submit_result_t<F, Args...>> submit(F&& fn,
                                                           Args&&... args) {
    static_assert(detail::call_crosses<F, Args...>());
    return Executor::submit(std::forward<F>(fn), std::forward<Args>(args)...);
  }

protected:
  void enqueue(detail::StateBase::Ptr task) override {
    task->isolate(run_isolated_); // SerializationError: at submit
    ThreadPoolExecutor::enqueue(std::move(task));
  }

  void enqueue_all(std::vector<detail::StateBase::Ptr>& tasks,
                   detail::BatchOf kind) override {
    for (auto& task : tasks) {
      task->isolate(run_isolated_);
    }
    ThreadPoolExecutor::enqueue_all(tasks, kind);
  }

  [[nodiscard]] std::exception_ptr
  broken_error(const std::string& reason) const override {
    return std::make_exception_ptr(BrokenInterpreterPool(reason));
  }

private:
  // Named only here (the constructors' initializer) for the reason
  // ProcessPoolExecutor starts its manager through a pointer.
  detail::StateBase::IsolatedRunner run_isolated_ = &detail::run_isolated;

  static ThreadPoolOptions thread_options(const Options& options) {
    static std::atomic<int> counter{0};
    ThreadPoolOptions result;
    result.max_workers = options.max_workers;
    result.thread_name_prefix =
        options.thread_name_prefix.empty()
            ? "InterpreterPoolExecutor-" + std::to_string(counter++)
            : options.thread_name_prefix;
    // Every worker makes its context first: the initializer runs inside it.
    result.initializer = [library = options.isolated_library,
                          initializer = options.initializer] {
      detail::current_worker_context.reset(new WorkerContext(library));
      if (initializer) {
        OutputArchive discarded;
        detail::run_encoded(initializer->bytes(), discarded);
      }
    };
    return result;
  }
};

} // namespace concurrent::futures
