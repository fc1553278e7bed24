/* libFuzzer target for the EndpointPickerConfig loader: any bytes either
 * load (and free cleanly) or fail with a located, NUL-terminated error. */
#include <stdint.h>
#include <string.h>

#include "scheduler.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int quiet;
  if (!quiet) {
    sy_log_set_level(SY_LOG_ERROR); /* deprecation warnings would flood */
    quiet = 1;
  }
  if (size == 0) return 0; /* empty input selects the built-in default */
  sy_sched_t *s = NULL;
  sy_sched_error_t err;
  int rc = sy_sched_new_from_config(&s, "fuzz.yaml", (const char *)data, size, &err);
  if (rc == 0) {
    sy_sched_free(s);
  } else if (memchr(err.msg, '\0', sizeof(err.msg)) == NULL) {
    __builtin_trap(); /* the message must be a terminated string */
  }
  return 0;
}
