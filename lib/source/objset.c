/* Object sets and label helpers. */
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "source_int.h"

void sy_objset_free(sy_objset_t *set) {
  if (!set) return;
  for (size_t i = 0; i < set->n_pools; i++) sy_source__pool_cleanup(&set->pools[i]);
  for (size_t i = 0; i < set->n_pods; i++) sy_source__pod_cleanup(&set->pods[i]);
  for (size_t i = 0; i < set->n_objectives; i++) sy_source__objective_cleanup(&set->objectives[i]);
  sy_free(set->pools);
  sy_free(set->pods);
  sy_free(set->objectives);
  sy_free(set);
}

const char *sy_labels_get(const sy_label_t *labels, size_t n, const char *key) {
  if (!key) return NULL;
  for (size_t i = 0; i < n; i++) {
    if (labels[i].key && strcmp(labels[i].key, key) == 0) return labels[i].value;
  }
  return NULL;
}

bool sy_labels_match(const sy_label_t *selector, size_t n_selector, const sy_label_t *labels,
                     size_t n_labels) {
  for (size_t i = 0; i < n_selector; i++) {
    const char *v = sy_labels_get(labels, n_labels, selector[i].key);
    if (!v || strcmp(v, selector[i].value) != 0) return false;
  }
  return true;
}

int sy_source_error_format(const sy_source_error_t *err, char *buf, size_t n) {
  if (!buf || n == 0) return 0;
  if (!err) {
    buf[0] = '\0';
    return 0;
  }
  if (err->line > 0) return snprintf(buf, n, "%s:%d:%d: %s", err->file, err->line, err->column, err->msg);
  return snprintf(buf, n, "%s: %s", err->file, err->msg);
}
