/* Object sets and label helpers. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "source_int.h"

void sy_objset_free(sy_objset_t *set) {
  if (!set) return;
  for (size_t i = 0; i < set->n_pools; i++) sy_source__pool_cleanup(&set->pools[i]);
  for (size_t i = 0; i < set->n_pods; i++) sy_source__pod_cleanup(&set->pods[i]);
  for (size_t i = 0; i < set->n_objectives; i++) sy_source__objective_cleanup(&set->objectives[i]);
  for (size_t i = 0; i < set->n_rewrites; i++) sy_source__rewrite_cleanup(&set->rewrites[i]);
  sy_free(set->rewrites);
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

/* ------------------------------------------------------------- deep copy */

/* Copies a string that may be NULL; false only when allocation failed. */
static bool dup_opt(char **dst, const char *src) {
  *dst = NULL;
  return !src || (*dst = sy_strdup(src)) != NULL;
}

static bool labels_copy(sy_label_t **dst, size_t *n_dst, const sy_label_t *src, size_t n) {
  *dst = NULL;
  *n_dst = 0;
  if (!n) return true;
  if (!(*dst = sy_calloc(n, sizeof(**dst)))) return false;
  for (size_t i = 0; i < n; i++) {
    *n_dst = i + 1;
    if (!dup_opt(&(*dst)[i].key, src[i].key) || !dup_opt(&(*dst)[i].value, src[i].value)) return false;
  }
  return true;
}

static bool meta_copy(sy_objmeta_t *d, const sy_objmeta_t *s) {
  d->deleting = s->deleting;
  d->generation = s->generation;
  return dup_opt(&d->name, s->name) && dup_opt(&d->namespace_name, s->namespace_name) && dup_opt(&d->uid, s->uid) &&
         dup_opt(&d->resource_version, s->resource_version) &&
         dup_opt(&d->origin, s->origin) && labels_copy(&d->labels, &d->n_labels, s->labels, s->n_labels) &&
         labels_copy(&d->annotations, &d->n_annotations, s->annotations, s->n_annotations);
}

static bool pool_copy(sy_pool_t *d, const sy_pool_t *s) {
  memcpy(d->target_ports, s->target_ports, sizeof(d->target_ports));
  d->n_target_ports = s->n_target_ports;
  d->app_protocol = s->app_protocol;
  d->epp_port = s->epp_port;
  d->epp_fail_open = s->epp_fail_open;
  return meta_copy(&d->meta, &s->meta) && labels_copy(&d->selector, &d->n_selector, s->selector, s->n_selector) &&
         dup_opt(&d->epp_group, s->epp_group) && dup_opt(&d->epp_kind, s->epp_kind) &&
         dup_opt(&d->epp_name, s->epp_name);
}

static bool pod_copy(sy_pod_t *d, const sy_pod_t *s) {
  d->ready = s->ready;
  return meta_copy(&d->meta, &s->meta) && dup_opt(&d->pod_ip, s->pod_ip);
}

static bool objective_copy(sy_objective_t *d, const sy_objective_t *s) {
  d->priority = s->priority;
  return meta_copy(&d->meta, &s->meta) && dup_opt(&d->pool_group, s->pool_group) &&
         dup_opt(&d->pool_name, s->pool_name);
}

static bool rule_copy(sy_rewrite_rule_t *d, const sy_rewrite_rule_t *s) {
  if (s->n_matches && !(d->matches = sy_calloc(s->n_matches, sizeof(*d->matches)))) return false;
  for (size_t i = 0; i < s->n_matches; i++) {
    d->n_matches = i + 1;
    if (!dup_opt(&d->matches[i], s->matches[i])) return false;
  }
  if (s->n_targets && !(d->targets = sy_calloc(s->n_targets, sizeof(*d->targets)))) return false;
  for (size_t i = 0; i < s->n_targets; i++) {
    d->n_targets = i + 1;
    d->targets[i].weight = s->targets[i].weight;
    if (!dup_opt(&d->targets[i].model, s->targets[i].model)) return false;
  }
  return true;
}

static bool rewrite_copy(sy_model_rewrite_t *d, const sy_model_rewrite_t *s) {
  d->created = s->created;
  if (!meta_copy(&d->meta, &s->meta) || !dup_opt(&d->pool_group, s->pool_group) ||
      !dup_opt(&d->pool_name, s->pool_name))
    return false;
  if (s->n_rules && !(d->rules = sy_calloc(s->n_rules, sizeof(*d->rules)))) return false;
  for (size_t i = 0; i < s->n_rules; i++) {
    d->n_rules = i + 1;
    if (!rule_copy(&d->rules[i], &s->rules[i])) return false;
  }
  return true;
}

int sy_source_object_copy(sy_kind_t kind, void *dst, const void *src) {
  bool ok = false;
  switch (kind) {
    case SY_KIND_POOL: ok = pool_copy(dst, src); break;
    case SY_KIND_POD: ok = pod_copy(dst, src); break;
    case SY_KIND_OBJECTIVE: ok = objective_copy(dst, src); break;
    case SY_KIND_REWRITE: ok = rewrite_copy(dst, src); break;
  }
  if (ok) return 0;
  sy_source_object_cleanup(kind, dst);
  return -ENOMEM;
}
