// A main for a fuzz target outside libFuzzer: runs LLVMFuzzerTestOneInput once on every file
// named on the command line, or on every regular file of a directory named there (not
// recursively, in name order). This is libFuzzer's regression mode (`target -runs=0 DIR`) for a
// build without libFuzzer: the gcc builds run each target's corpus with it as a unit test, the
// sanitizer build under AddressSanitizer and UndefinedBehaviorSanitizer.
//
// Exit code 0 when every input ran (a target reports a finding by crashing, as under
// libFuzzer); 2 when an input cannot be read or no input was found.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// The files `arg` names: itself, or a directory's regular files in name order.
std::vector<std::filesystem::path> InputsOf(const std::filesystem::path& arg) {
  std::error_code error;
  if (!std::filesystem::is_directory(arg, error)) return {arg};
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(arg, error)) {
    if (entry.is_regular_file(error)) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

bool RunOne(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", file.c_str());
    return false;
  }
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // A copy of its own, as libFuzzer gives: a read past the end is an AddressSanitizer finding.
  std::vector<uint8_t> data(bytes.begin(), bytes.end());
  LLVMFuzzerTestOneInput(data.data(), data.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  size_t ran = 0;
  for (int i = 1; i < argc; ++i) {
    for (const std::filesystem::path& file : InputsOf(argv[i])) {
      if (!RunOne(file)) return 2;
      ++ran;
    }
  }
  if (ran == 0) {
    std::fprintf(stderr, "no input: give files or directories of them\n");
    return 2;
  }
  std::printf("%zu inputs ran\n", ran);
  return 0;
}
