#pragma once
// What `wait()` and `as_completed()` share: one waiter registered on many
// futures at once (CPython installs its waiter under every future's lock;
// registering future by future is enough here because each registration
// atomically answers "already done?" and a done future never changes).

#include <concurrent/futures/detail/shared_state.hpp>
#include <concurrent/futures/detail/waiter.hpp>
#include <concurrent/futures/future.hpp>

#include <cstddef>
#include <iterator>
#include <ranges>
#include <unordered_set>
#include <vector>

namespace concurrent::futures::detail {

/// Keeps `waiter` registered on the futures it was added to, and removes it
/// from all of them on destruction, before the waiter itself can go away.
class WaiterRegistration {
public:
  WaiterRegistration(Waiter& waiter, std::size_t capacity) : waiter_(waiter) {
    registered_.reserve(capacity); // so add() cannot throw after registering
  }
  WaiterRegistration(const WaiterRegistration&) = delete;
  WaiterRegistration& operator=(const WaiterRegistration&) = delete;
  ~WaiterRegistration() {
    for (StateBase* state : registered_) {
      state->remove_waiter(&waiter_);
    }
  }

  /// Registers the waiter on `state` unless it is done; returns whether it
  /// was done.
  bool add(StateBase& state) {
    if (state.add_waiter(&waiter_)) {
      return true;
    }
    registered_.push_back(&state);
    return false;
  }

  /// How many futures were pending when registered.
  [[nodiscard]] std::size_t size() const noexcept { return registered_.size(); }

private:
  Waiter& waiter_;
  std::vector<StateBase*> registered_;
};

/// The futures of `fs`, each once, in the order first seen.
template <class F, class R> std::vector<F> unique_futures(R&& fs) {
  std::vector<F> unique;
  std::unordered_set<const StateBase*> seen;
  for (auto&& f : fs) {
    if (seen.insert(FutureAccess::state(f).get()).second) {
      unique.emplace_back(f);
    }
  }
  return unique;
}

} // namespace concurrent::futures::detail
