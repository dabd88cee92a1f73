// Python's documentation, the Executor.shutdown example: the executor's scope
// ends like a `with` block, so the program goes on only after every copy.
//
//   with ThreadPoolExecutor(max_workers=4) as e:
//       e.submit(shutil.copy, 'src1.txt', 'dest1.txt')
//       ...

#include <concurrent/futures.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace cf = concurrent::futures;
namespace fs = std::filesystem;

void copy(const fs::path& from, const fs::path& to) {
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

int main() {
  const fs::path dir = fs::temp_directory_path() / "cf-shutdown-example";
  fs::create_directories(dir);
  for (int i = 1; i <= 4; ++i) {
    std::ofstream(dir / ("src" + std::to_string(i) + ".txt"))
        << "file " << i << "\n";
  }

  {
    cf::ThreadPoolExecutor e(4);
    for (int i = 1; i <= 4; ++i) {
      const std::string n = std::to_string(i);
      (void)e.submit(copy, dir / ("src" + n + ".txt"),
                     dir / ("dest" + n + ".txt"));
    }
  } // e.shutdown(wait=true): all four copies are done here

  for (int i = 1; i <= 4; ++i) {
    const fs::path dest = dir / ("dest" + std::to_string(i) + ".txt");
    std::printf("%s: %s\n", dest.filename().c_str(),
                fs::exists(dest) ? "copied" : "missing");
  }
  fs::remove_all(dir);
}
