#pragma once
// Naming code across processes. A function's address differs between runs
// of the same binary (address-space randomisation) but its offset from the
// base of the module (executable or shared library) that contains it does
// not; and a forked child shares its parent's addresses anyway. So code is
// named as (module name, offset), and resolved in the receiving process by
// finding the module of that name and checking that the offset lies inside
// one of its loaded segments.

#include <concurrent/futures/errors.hpp>

#include <cstdint>
#include <mutex>
#include <string>

#if defined(__linux__)
#include <link.h>
#endif

namespace concurrent::futures::detail {

struct CodeAddress {
  std::string module; // "" for the main executable
  std::uint64_t offset = 0;
};

/// Held while this library walks the loaded modules, and by its own fork()
/// calls. A walk holds the dynamic linker's lock; a child forked meanwhile by
/// another thread would inherit that lock held, with no thread left to
/// release it, and hang the first time it walks the modules itself.
inline std::mutex& module_walk_mutex() {
  static std::mutex mutex;
  return mutex;
}

#if defined(__linux__)

namespace code_address_impl {

struct Search {
  std::uintptr_t address = 0;
  const std::string* module = nullptr;
  bool executable = false;
  bool found = false;
  std::string found_module;
  std::uintptr_t base = 0;
};

inline bool segment_contains(const dl_phdr_info* info, std::uintptr_t address,
                             bool need_executable) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || (need_executable && !(ph.p_flags & PF_X))) {
      continue;
    }
    const std::uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (address >= start && address - start < ph.p_memsz) {
      return true;
    }
  }
  return false;
}

inline int find_by_address(dl_phdr_info* info, std::size_t, void* data) {
  auto* search = static_cast<Search*>(data);
  if (!segment_contains(info, search->address, false)) {
    return 0;
  }
  search->found = true;
  search->found_module = info->dlpi_name != nullptr ? info->dlpi_name : "";
  search->base = info->dlpi_addr;
  return 1;
}

inline int find_by_name(dl_phdr_info* info, std::size_t, void* data) {
  auto* search = static_cast<Search*>(data);
  const char* name = info->dlpi_name != nullptr ? info->dlpi_name : "";
  if (*search->module != name) {
    return 0;
  }
  search->base = info->dlpi_addr;
  // Resolve only into this module's own segments: a forged offset must not
  // become an arbitrary address.
  search->address = info->dlpi_addr + search->address;
  search->found = segment_contains(info, search->address, search->executable);
  return 1;
}

} // namespace code_address_impl

/// Where `address` (code or constant data of a loaded module) lives.
inline CodeAddress locate(const void* address) {
  code_address_impl::Search search;
  search.address = reinterpret_cast<std::uintptr_t>(address);
  {
    std::lock_guard lock(module_walk_mutex());
    dl_iterate_phdr(code_address_impl::find_by_address, &search);
  }
  if (!search.found) {
    throw SerializationError("address is not inside any loaded module");
  }
  return {std::move(search.found_module), search.address - search.base};
}

/// The address `where` names in this process. `executable`: it must lie in
/// an executable segment (for a function). Throws `SerializationError` if
/// the module is not loaded here or the offset is outside it.
inline const void* resolve(const CodeAddress& where, bool executable) {
  code_address_impl::Search search;
  search.module = &where.module;
  search.address = static_cast<std::uintptr_t>(where.offset);
  search.executable = executable;
  {
    std::lock_guard lock(module_walk_mutex());
    dl_iterate_phdr(code_address_impl::find_by_name, &search);
  }
  if (!search.found) {
    throw SerializationError(
        "cannot resolve code in module '" +
        (where.module.empty() ? std::string("<main>") : where.module) +
        "': not loaded here, or offset out of range");
  }
  return reinterpret_cast<const void*>(search.address);
}

#else

inline CodeAddress locate(const void* address) {
  return {"", static_cast<std::uint64_t>(
                  reinterpret_cast<std::uintptr_t>(address))};
}
inline const void* resolve(const CodeAddress& where, bool) {
  // Without dl_iterate_phdr only a forked child (same addresses) can resolve.
  return reinterpret_cast<const void*>(
      static_cast<std::uintptr_t>(where.offset));
}

#endif

} // namespace concurrent::futures::detail
