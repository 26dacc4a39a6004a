// The libFuzzer driver: one binary for every target, chosen by $MIES_FUZZ_TARGET (see
// scripts/fuzz.sh). Errors are expected results; crashes, sanitizer reports, leaks and
// timeouts are what libFuzzer reports.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "entries/entries.h"
#include "entries/support.h"

namespace {
const mies::fuzz::Target* g_target = nullptr;
bool g_verbose = false;  // $MIES_FUZZ_VERBOSE=1: print each input's Status (replaying by hand)
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  mies::fuzz::QuietLogging();
  const char* name = std::getenv("MIES_FUZZ_TARGET");
  g_target = name != nullptr ? mies::fuzz::FindTarget(name) : nullptr;
  if (g_target == nullptr) {
    std::fprintf(stderr, "set MIES_FUZZ_TARGET to one of:\n");
    for (const auto& t : mies::fuzz::Targets())
      std::fprintf(stderr, "  %-18s %s\n", t.name, t.what);
    std::exit(2);
  }
  g_verbose = std::getenv("MIES_FUZZ_VERBOSE") != nullptr;
  if (g_target->init != nullptr) g_target->init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const mies::Status s = g_target->run(std::string_view(reinterpret_cast<const char*>(data), size));
  if (g_verbose) std::fprintf(stderr, "status: %s\n", s.ToString().substr(0, 300).c_str());
  return 0;
}
