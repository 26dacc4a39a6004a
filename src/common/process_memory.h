// This process's resident memory, read from /proc/self/statm (Linux); 0 when it cannot be read.
// Cheap enough to call with every heartbeat.
#pragma once

#include <cstdint>

namespace mies {

uint64_t ResidentBytes();

}  // namespace mies
