// What the fuzz entries share: a private scratch directory for entries that must go through a
// loader that reads files, the shared reference data, and silenced logging.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace mies::fuzz {

// A 0700 directory made once per process (removed at exit), under $TMPDIR or /tmp.
const std::string& ScratchDir();

// Writes `data` to ScratchDir()/name with mode 0600 (what MindIE's file rules accept) and returns
// the path. Aborts on an I/O failure of the scratch directory itself: that is not the input's
// fault, and a fuzzer must not mistake it for a verdict.
std::string WriteScratchFile(const std::string& name, std::string_view data);

// /work/shared (MIES_SHARED_DIR at build time, $MIES_SHARED_DIR overrides).
std::string SharedDir();

// A copy of shared/models/stories260K inside ScratchDir() with the modes the model-file rules
// ask for (0750 directory, 0640 files), made on first use.
const std::string& Stories260KDir();

// Turns library logging off (bad inputs log warnings; at fuzzing speed that is noise).
void QuietLogging();

// Aborts with a message: for invariant violations the fuzzer must report as a crash.
[[noreturn]] void Die(std::string_view what);

}  // namespace mies::fuzz
