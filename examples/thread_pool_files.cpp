// The ThreadPoolExecutor example of Python's documentation, offline: instead
// of downloading web pages it loads local files, one of which does not exist,
// so that both branches show.
//
//   with ThreadPoolExecutor(max_workers=5) as executor:
//       future_to_url = {executor.submit(load_url, url, 60): url for url in
//       URLS} for future in concurrent.futures.as_completed(future_to_url): ...

#include <concurrent/futures.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace cf = concurrent::futures;

// Retrieve a single file and report its contents.
std::string load_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot open " + path.string());
  }
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int main(int argc, char** argv) {
  const std::filesystem::path root = argc > 1 ? argv[1] : ".";
  const std::vector<std::string> files = {
      "README.md", "LICENSE", "CMakeLists.txt",
      "include/concurrent/futures.hpp", "no-such-file.txt"};

  // The destructor waits for the threads, as `with` does in Python.
  cf::ThreadPoolExecutor executor(5);
  // Start the load operations and mark each future with its file name.
  std::unordered_map<cf::Future<std::string>, std::string> future_to_file;
  std::vector<cf::Future<std::string>> futures;
  for (const auto& file : files) {
    futures.push_back(executor.submit(load_file, root / file));
    future_to_file.emplace(futures.back(), file);
  }
  for (const auto& future : cf::as_completed(futures)) {
    const std::string& file = future_to_file.at(future);
    try {
      const std::string& data = future.result();
      std::printf("'%s' is %zu bytes\n", file.c_str(), data.size());
    } catch (const std::exception& exc) {
      std::printf("'%s' generated an exception: %s\n", file.c_str(),
                  exc.what());
    }
  }
}
