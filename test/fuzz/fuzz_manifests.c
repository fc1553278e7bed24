/* libFuzzer target: bytes -> YAML tree -> InferencePool/Pod decoding.
 * Exercises the parser limits, alias handling, every validator and the
 * error paths; ASan/UBSan catch the bugs. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "source.h"
#include "yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walks every node (aliases followed: the limits bound the expansion) and
 * resolves every scalar, so lazy resolution runs on fuzzed text too. */
static size_t walk(const sy_yaml_node_t *n, unsigned depth) {
  if (!n || depth > 200) return 0;
  size_t count = 1;
  int64_t i;
  bool b;
  double d;
  (void)sy_yaml_as_int(n, &i);
  (void)sy_yaml_as_bool(n, &b);
  (void)sy_yaml_as_double(n, &d);
  (void)sy_yaml_type_name(sy_yaml_type(n));
  for (size_t k = 0; k < n->n; k++) {
    if (n->kind == SY_YAML_MAPPING) {
      count += walk(n->keys[k], depth + 1);
      /* the sorted index must find every key */
      if (memchr(n->keys[k]->text, '\0', n->keys[k]->len) == NULL &&
          sy_yaml_get(n, n->keys[k]->text) == NULL) {
        __builtin_trap();
      }
    }
    count += walk(n->items[k], depth + 1);
  }
  return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Small limits keep each input fast; the real ones are tested in units. */
  sy_yaml_limits_t lim = {.max_bytes = 1 << 20, .max_depth = 64, .max_nodes = 20000};
  sy_yaml_stream_t *s = NULL;
  sy_yaml_error_t yerr;
  if (sy_yaml_parse("fuzz.yaml", data, size, &lim, &s, &yerr) == 0) {
    for (size_t i = 0; i < s->n_docs; i++) {
      walk(s->docs[i].root, 0);
      (void)sy_yaml_path(s->docs[i].root, "spec.selector.matchLabels");
      (void)sy_yaml_path(s->docs[i].root, "status.conditions[0].type");
    }
    sy_yaml_stream_free(s);
  } else {
    char buf[1200];
    sy_yaml_error_str(&yerr, buf, sizeof(buf));
  }

  sy_objset_t *set = NULL;
  sy_source_error_t err;
  if (sy_manifests_load_buffer("fuzz.yaml", (const char *)data, size, &set, &err) == 0) {
    for (size_t i = 0; i < set->n_pools; i++) {
      const sy_pool_t *p = &set->pools[i];
      for (size_t j = 0; j < set->n_pods; j++) {
        (void)sy_labels_match(p->selector, p->n_selector, set->pods[j].meta.labels,
                              set->pods[j].meta.n_labels);
      }
    }
    sy_objset_free(set);
  } else {
    char buf[1200];
    sy_source_error_format(&err, buf, sizeof(buf));
  }
  return 0;
}
