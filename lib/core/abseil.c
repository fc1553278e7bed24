/*
 * Debian builds abseil without NDEBUG, so every absl::Mutex lock taken inside
 * libgrpc runs abseil's debug-only deadlock detection: a global lock and a
 * lock-graph update per acquisition. Measured with callgrind on the ext_proc
 * worker at 1 stream per 50 ms: 8 % of the worker's instructions and a third
 * of grpc_completion_queue_next's (docs/BENCHMARKS.md, session 4). Release
 * builds of abseil (and Envoy's) skip it; we switch it off through abseil's
 * public API, absl::SetMutexDeadlockDetectionMode(OnDeadlockCycle::kIgnore).
 *
 * The function is C++, so it is found by its mangled name, with and without
 * Debian's inline namespace. When neither is there (another abseil build,
 * static linking) nothing happens: the result only tells the caller.
 */
#include <dlfcn.h>
#include <string.h>

#include "core.h"

bool sy_abseil_deadlock_detection_off(void) {
  static const char *const names[] = {
      /* absl::debian3::SetMutexDeadlockDetectionMode(absl::debian3::OnDeadlockCycle) */
      "_ZN4absl7debian329SetMutexDeadlockDetectionModeENS0_15OnDeadlockCycleE",
      /* absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle) */
      "_ZN4absl29SetMutexDeadlockDetectionModeENS_15OnDeadlockCycleE",
  };
  for (size_t i = 0; i < SY_ARRAY_LEN(names); i++) {
    void *sym = dlsym(RTLD_DEFAULT, names[i]);
    if (!sym) continue;
    /* enum class OnDeadlockCycle : int { kIgnore = 0, kReport, kAbort } */
    void (*set_mode)(int);
    memcpy(&set_mode, &sym, sizeof(set_mode));
    set_mode(0);
    return true;
  }
  return false;
}
