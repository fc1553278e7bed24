/*
 * EndpointPickerConfig: phase 1 reads the YAML strictly (unknown keys are
 * errors naming file:line:column); phase 2 creates plugin instances, applies
 * upstream's defaulting rules and links profiles.
 *
 * Defaults (as upstream): an empty plugin name is its type; one profile and
 * no handler → single-profile-handler; a profile without a picker →
 * max-score-picker; a scorer without weight → 1.0; no schedulingProfiles →
 * one "default" profile of every filter, scorer and picker; prefix-cache-scorer
 * without approx-prefix-cache-producer → one is created with the same
 * parameters; the saturation detector defaults to utilization-detector.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "plugins/plugins.h"
#include "scheduler_int.h"

const char sy_sched_default_config[] =
    "apiVersion: llm-d.ai/v1alpha1\n"
    "kind: EndpointPickerConfig\n"
    "plugins:\n"
    "- type: queue-scorer\n"
    "- type: kv-cache-utilization-scorer\n"
    "- type: prefix-cache-scorer\n"
    "- type: metrics-data-source\n"
    "- type: core-metrics-extractor\n"
    "schedulingProfiles:\n"
    "- name: default\n"
    "  plugins:\n"
    "  - pluginRef: queue-scorer\n"
    "    weight: 2\n"
    "  - pluginRef: kv-cache-utilization-scorer\n"
    "    weight: 2\n"
    "  - pluginRef: prefix-cache-scorer\n"
    "    weight: 3\n";

static const char *const KNOWN_GATES[] = {"flowControl", "enableLegacyMetrics", "dataLayer"};

/* ---------------------------------------------------------- yaml helpers */

static int want_map(const sy_yaml_node_t *n, const char *what, sy_sched_error_t *err) {
  if (n && n->kind == SY_YAML_MAPPING) return 0;
  return sy_sched_errorf(err, n, "%s: must be a mapping", what);
}

static int want_str(const sy_yaml_node_t *n, const char *what, sy_sched_error_t *err) {
  if (n && sy_yaml_is_string(n)) return 0;
  return sy_sched_errorf(err, n, "%s: must be a string", what);
}

/* Rejects keys of mapping `m` not listed in `allowed` (NULL-terminated). */
static int only_keys(const sy_yaml_node_t *m, const char *what, const char *const *allowed, sy_sched_error_t *err) {
  for (size_t i = 0; i < m->n; i++) {
    const sy_yaml_node_t *k = m->keys[i];
    bool ok = false;
    for (size_t j = 0; allowed[j] && !ok; j++) ok = sy_yaml_text_eq(k, allowed[j]);
    if (!ok) return sy_sched_errorf(err, k, "%s: unknown field \"%s\"", what, k->text);
  }
  return 0;
}

static char *dup_text(const sy_yaml_node_t *n) { return n ? sy_strndup(n->text, n->len) : NULL; }

/* --------------------------------------------- framework-level plugin types */

static const char *const DATASOURCE_KEYS[] = {"scheme", "path", "insecureSkipVerify", NULL};

static int datasource_create(const sy_sched_plugin_args_t *a, void **state, sy_sched_error_t *err) {
  sy_sched_datalayer_t *dl = &a->sched->datalayer;
  *state = NULL;
  if (!a->params) return 0;
  int rc = want_map(a->params, "parameters", err);
  if (!rc) rc = only_keys(a->params, "metrics-data-source parameters", DATASOURCE_KEYS, err);
  if (rc) return rc;
  const sy_yaml_node_t *v;
  if ((v = sy_yaml_get(a->params, "scheme"))) {
    if (want_str(v, "scheme", err)) return SY_EINVAL;
    if (!sy_yaml_text_eq(v, "http") && !sy_yaml_text_eq(v, "https"))
      return sy_sched_errorf(err, v, "scheme: must be http or https");
    sy_free(dl->scheme);
    dl->scheme = dup_text(v);
  }
  if ((v = sy_yaml_get(a->params, "path"))) {
    if (want_str(v, "path", err)) return SY_EINVAL;
    sy_free(dl->path);
    dl->path = dup_text(v);
  }
  if ((v = sy_yaml_get(a->params, "insecureSkipVerify")) && sy_yaml_as_bool(v, &dl->insecure_skip_verify) != 0)
    return sy_sched_errorf(err, v, "insecureSkipVerify: must be a boolean");
  return 0;
}

static const char *const EXTRACTOR_KEYS[] = {"engineLabelKey", "defaultEngine", "engineConfigs", NULL};
static const char *const ENGINE_KEYS[] = {"name",         "queuedRequestsSpec", "runningRequestsSpec",
                                          "kvUsageSpec",  "loraSpec",           "cacheInfoSpec",
                                          "cacheBlockSizeSpec", "cacheNumBlocksSpec", NULL};

static int extractor_create(const sy_sched_plugin_args_t *a, void **state, sy_sched_error_t *err) {
  sy_sched_datalayer_t *dl = &a->sched->datalayer;
  *state = NULL;
  if (!a->params) return 0;
  int rc = want_map(a->params, "parameters", err);
  if (!rc) rc = only_keys(a->params, "core-metrics-extractor parameters", EXTRACTOR_KEYS, err);
  if (rc) return rc;
  const sy_yaml_node_t *v;
  if ((v = sy_yaml_get(a->params, "engineLabelKey"))) {
    if (want_str(v, "engineLabelKey", err)) return SY_EINVAL;
    sy_free(dl->engine_label_key);
    dl->engine_label_key = dup_text(v);
  }
  if ((v = sy_yaml_get(a->params, "defaultEngine"))) {
    if (want_str(v, "defaultEngine", err)) return SY_EINVAL;
    sy_free(dl->default_engine);
    dl->default_engine = dup_text(v);
  }
  const sy_yaml_node_t *list = sy_yaml_get(a->params, "engineConfigs");
  if (!list) return 0;
  if (list->kind != SY_YAML_SEQUENCE) return sy_sched_errorf(err, list, "engineConfigs: must be a list");
  for (size_t i = 0; i < list->n; i++) {
    const sy_yaml_node_t *e = list->items[i];
    if (want_map(e, "engineConfigs[]", err) || only_keys(e, "engineConfigs[]", ENGINE_KEYS, err)) return SY_EINVAL;
    const sy_yaml_node_t *name = sy_yaml_get(e, "name");
    if (!name || want_str(name, "engineConfigs[].name", err) || name->len == 0)
      return sy_sched_errorf(err, name ? name : e, "engineConfigs[].name: required");
    if (dl->n_engines >= SY_SCHED_MAX_ENGINES)
      return sy_sched_errorf(err, e, "engineConfigs: at most %d engines", SY_SCHED_MAX_ENGINES);
    sy_sched_engine_config_t *ec = &dl->engines[dl->n_engines++];
    memset(ec, 0, sizeof(*ec));
    ec->name = dup_text(name);
    struct {
      const char *key;
      char **dst;
    } map[] = {{"queuedRequestsSpec", &ec->queued},     {"runningRequestsSpec", &ec->running},
               {"kvUsageSpec", &ec->kv_usage},          {"loraSpec", &ec->lora},
               {"cacheInfoSpec", &ec->cache_info},      {"cacheBlockSizeSpec", &ec->cache_block_size},
               {"cacheNumBlocksSpec", &ec->cache_num_blocks}};
    for (size_t k = 0; k < SY_ARRAY_LEN(map); k++) {
      const sy_yaml_node_t *sv = sy_yaml_get(e, map[k].key);
      if (!sv) continue;
      if (want_str(sv, map[k].key, err)) return SY_EINVAL;
      *map[k].dst = dup_text(sv);
    }
  }
  return 0;
}

/* Accepts (and ignores) parameters: types whose work happens elsewhere. */
static int accept_create(const sy_sched_plugin_args_t *a, void **state, sy_sched_error_t *err) {
  *state = NULL;
  if (a->params && a->params->kind != SY_YAML_MAPPING && a->params->kind != SY_YAML_NULL)
    return sy_sched_errorf(err, a->params, "parameters: must be a mapping");
  return 0;
}

static void no_destroy(void *state) { SY_UNUSED(state); }

const sy_sched_plugin_type_t sy_plugin_metrics_data_source = {
    .type = "metrics-data-source", .kinds = SY_SCHED_OTHER, .create = datasource_create, .destroy = no_destroy};
const sy_sched_plugin_type_t sy_plugin_core_metrics_extractor = {
    .type = "core-metrics-extractor", .kinds = SY_SCHED_OTHER, .create = extractor_create, .destroy = no_destroy};
/* The OpenAI parser is lib/openai, always on; the type is accepted so
 * upstream configs naming it load unchanged. */
const sy_sched_plugin_type_t sy_plugin_openai_parser = {
    .type = "openai-parser", .kinds = SY_SCHED_OTHER, .create = accept_create, .destroy = no_destroy};
/* In-flight requests and tokens are accounted by the director for every
 * endpoint; the producer type is accepted for config compatibility. */
const sy_sched_plugin_type_t sy_plugin_inflight_load_producer = {
    .type = "inflight-load-producer", .kinds = SY_SCHED_OTHER, .create = accept_create, .destroy = no_destroy};

/* ------------------------------------------------------------ instances */

inst_t *sy_sched__inst_add(sy_sched_t *s, const char *name, const sy_sched_plugin_type_t *type) {
  if (s->n_insts == s->cap_insts) {
    /* Instances are referenced by pointer from profiles: the array is sized
     * once in new_from_config and never grows past it. */
    return NULL;
  }
  inst_t *i = &s->insts[s->n_insts];
  memset(i, 0, sizeof(*i));
  i->name = sy_strdup(name);
  i->type = type;
  if (!i->name) return NULL;
  s->n_insts++;
  return i;
}

/* Prefixes err->msg with the plugin it concerns (truncating if needed). */
static void prefix_msg(sy_sched_error_t *err, const char *name, const char *type) {
  char tmp[sizeof(err->msg) + 300];
  int n = snprintf(tmp, sizeof(tmp), "plugin %s (%s): %s", name, type, err->msg);
  size_t len = n < 0 ? 0 : SY_MIN((size_t)n, sizeof(err->msg) - 1);
  memcpy(err->msg, tmp, len);
  err->msg[len] = '\0';
}

static int create_inst(sy_sched_t *s, const char *name, const sy_sched_plugin_type_t *type,
                       const sy_yaml_node_t *params, const sy_yaml_node_t *at, sy_sched_error_t *err) {
  inst_t *in = sy_sched__inst_add(s, name, type);
  if (!in) return -ENOMEM;
  sy_sched_plugin_args_t args = {.name = in->name, .params = params, .sched = s};
  int rc = type->create(&args, &in->state, err);
  if (rc) {
    if (err && err->line == 0 && at) {
      err->line = at->line;
      err->column = at->column;
    }
    /* keep the message; prefix it with the plugin for context */
    prefix_msg(err, name, type->type);
    in->type = NULL; /* not created: nothing to destroy */
    return rc;
  }
  return 0;
}

void sy_sched_free(sy_sched_t *s) {
  if (!s) return;
  for (size_t i = 0; i < s->n_insts; i++) {
    if (s->insts[i].type && s->insts[i].type->destroy) s->insts[i].type->destroy(s->insts[i].state);
    sy_free(s->insts[i].name);
  }
  sy_free(s->insts);
  for (size_t p = 0; p < s->n_profiles; p++) {
    sy_free(s->profiles[p].name);
    sy_free(s->profiles[p].filters);
    sy_free(s->profiles[p].scorers);
  }
  sy_free(s->profiles);
  sy_free(s->config_text);
  pthread_mutex_destroy(&s->recent_mu);
  sy_sched_datalayer_t *dl = &s->datalayer;
  sy_free(dl->scheme);
  sy_free(dl->path);
  sy_free(dl->engine_label_key);
  sy_free(dl->default_engine);
  for (size_t e = 0; e < dl->n_engines; e++) {
    sy_sched_engine_config_t *ec = &dl->engines[e];
    sy_free(ec->name);
    sy_free(ec->queued);
    sy_free(ec->running);
    sy_free(ec->kv_usage);
    sy_free(ec->lora);
    sy_free(ec->cache_info);
    sy_free(ec->cache_block_size);
    sy_free(ec->cache_num_blocks);
  }
  sy_free(s);
}

/* ------------------------------------------------------------- profiles */

static int add_profile_ref(sy_sched_t *s, sy_sched_profile_t *p, inst_t *in, double weight, bool weight_set,
                           const sy_yaml_node_t *at, sy_sched_error_t *err) {
  unsigned k = in->type->kinds;
  if (k & SY_SCHED_SCORER) {
    p->scorers[p->n_scorers].inst = in;
    p->scorers[p->n_scorers].weight = weight_set ? weight : 1.0;
    p->n_scorers++;
  } else if (k & SY_SCHED_PICKER) {
    if (p->picker) return sy_sched_errorf(err, at, "profile %s: more than one picker", p->name);
    p->picker = in;
  } else if (k & SY_SCHED_FILTER) {
    p->filters[p->n_filters++] = in;
  } else {
    return sy_sched_errorf(err, at, "profile %s: plugin %s (%s) is not a filter, scorer or picker", p->name,
                           in->name, in->type->type);
  }
  SY_UNUSED(s);
  return 0;
}

static int profile_alloc(sy_sched_profile_t *p, const char *name, size_t max_refs) {
  p->name = sy_strdup(name);
  p->filters = sy_calloc(max_refs ? max_refs : 1, sizeof(inst_t *));
  p->scorers = sy_calloc(max_refs ? max_refs : 1, sizeof(scorer_ref_t));
  return p->name && p->filters && p->scorers ? 0 : -ENOMEM;
}

/* Finds (or creates once) an auto-added instance of `type`. */
static inst_t *auto_inst(sy_sched_t *s, const char *type, sy_sched_error_t *err, int *rc) {
  inst_t *in = sy_sched__inst_find(s, type);
  if (in) return in;
  const sy_sched_plugin_type_t *t = sy_sched_registry_find(type);
  if (!t) {
    *rc = sy_sched_errorf(err, NULL, "built-in plugin type %s is not available", type);
    return NULL;
  }
  *rc = create_inst(s, type, t, NULL, NULL, err);
  return *rc ? NULL : &s->insts[s->n_insts - 1];
}

/* ------------------------------------------------------------- loading */

static const char *const TOP_KEYS[] = {"apiVersion", "kind", "featureGates", "plugins", "schedulingProfiles",
                                       "saturationDetector", "dataLayer", "flowControl", "parser", NULL};

static int load(sy_sched_t *s, const sy_yaml_node_t *root, sy_sched_error_t *err) {
  int rc;
  if (want_map(root, "EndpointPickerConfig", err) || only_keys(root, "EndpointPickerConfig", TOP_KEYS, err))
    return SY_EINVAL;
  const sy_yaml_node_t *v = sy_yaml_get(root, "apiVersion");
  if (v && !sy_yaml_text_eq(v, "llm-d.ai/v1alpha1") && !sy_yaml_text_eq(v, "inference.networking.x-k8s.io/v1alpha1"))
    return sy_sched_errorf(err, v,
                           "apiVersion: must be llm-d.ai/v1alpha1 or inference.networking.x-k8s.io/v1alpha1, not \"%s\"",
                           v->text);
  if (v && sy_yaml_text_eq(v, "inference.networking.x-k8s.io/v1alpha1"))
    SY_LOG(SY_LOG_INFO, "EndpointPickerConfig apiVersion inference.networking.x-k8s.io/v1alpha1 is deprecated; use llm-d.ai/v1alpha1", NULL);
  v = sy_yaml_get(root, "kind");
  if (v && !sy_yaml_text_eq(v, "EndpointPickerConfig"))
    return sy_sched_errorf(err, v, "kind: must be EndpointPickerConfig, not \"%s\"", v->text);

  if ((v = sy_yaml_get(root, "featureGates"))) {
    if (v->kind != SY_YAML_SEQUENCE) return sy_sched_errorf(err, v, "featureGates: must be a list");
    for (size_t i = 0; i < v->n; i++) {
      const sy_yaml_node_t *g = v->items[i];
      bool known = false;
      for (size_t k = 0; k < SY_ARRAY_LEN(KNOWN_GATES); k++) known |= sy_yaml_text_eq(g, KNOWN_GATES[k]);
      if (!known) return sy_sched_errorf(err, g, "featureGates: unknown feature gate \"%s\"", g->text);
      if (sy_yaml_text_eq(g, "flowControl"))
        return sy_sched_errorf(err, g, "featureGates: flowControl is not supported by switchyard yet");
    }
  }

  /* plugins */
  const sy_yaml_node_t *plugins = sy_yaml_get(root, "plugins");
  if (!plugins) return sy_sched_errorf(err, root, "plugins: required");
  if (plugins->kind != SY_YAML_SEQUENCE) return sy_sched_errorf(err, plugins, "plugins: must be a list");
  bool have_prefix_scorer = false, have_prefix_producer = false;
  const sy_yaml_node_t *prefix_params = NULL;
  for (size_t i = 0; i < plugins->n; i++) {
    const sy_yaml_node_t *p = plugins->items[i];
    static const char *const PKEYS[] = {"name", "type", "parameters", NULL};
    if (want_map(p, "plugins[]", err) || only_keys(p, "plugins[]", PKEYS, err)) return SY_EINVAL;
    const sy_yaml_node_t *type = sy_yaml_get(p, "type");
    if (!type || !sy_yaml_is_string(type) || type->len == 0) return sy_sched_errorf(err, type ? type : p, "plugins[]: type is required");
    const sy_yaml_node_t *name = sy_yaml_get(p, "name");
    if (name && !sy_yaml_is_string(name)) return sy_sched_errorf(err, name, "plugins[].name: must be a string");
    const char *nm = name && name->len ? name->text : type->text;
    const sy_sched_plugin_type_t *t = sy_sched_registry_find(type->text);
    if (!t) return sy_sched_errorf(err, type, "plugins[]: unknown plugin type \"%s\" (not implemented by switchyard)", type->text);
    if (sy_sched__inst_find(s, nm)) return sy_sched_errorf(err, name ? name : type, "plugins[]: duplicate plugin name \"%s\"", nm);
    const sy_yaml_node_t *params = sy_yaml_get(p, "parameters");
    if (params && params->kind == SY_YAML_NULL) params = NULL;
    if ((rc = create_inst(s, nm, t, params, p, err))) return rc;
    if (t->kinds & SY_SCHED_PROFILE_HANDLER) { /* at most one */
      if (s->handler)
        return sy_sched_errorf(err, p, "plugins: more than one profile handler (%s, %s)", s->handler->name, nm);
      s->handler = &s->insts[s->n_insts - 1];
    }
    if (!strcmp(t->type, "prefix-cache-scorer")) {
      have_prefix_scorer = true;
      prefix_params = params;
    }
    if (!strcmp(t->type, "approx-prefix-cache-producer")) have_prefix_producer = true;
  }
  if (have_prefix_scorer && !have_prefix_producer) {
    const sy_sched_plugin_type_t *t = sy_sched_registry_find("approx-prefix-cache-producer");
    if (t && (rc = create_inst(s, t->type, t, prefix_params, NULL, err))) return rc;
  }


  /* schedulingProfiles */
  const sy_yaml_node_t *profiles = sy_yaml_get(root, "schedulingProfiles");
  if (profiles && profiles->kind != SY_YAML_SEQUENCE && profiles->kind != SY_YAML_NULL)
    return sy_sched_errorf(err, profiles, "schedulingProfiles: must be a list");
  size_t n_prof = profiles && profiles->kind == SY_YAML_SEQUENCE ? profiles->n : 0;
  s->profiles = sy_calloc(n_prof ? n_prof : 1, sizeof(sy_sched_profile_t));
  if (!s->profiles) return -ENOMEM;
  if (n_prof == 0) {
    /* One "default" profile of every filter, scorer and picker. */
    sy_sched_profile_t *p = &s->profiles[0];
    if ((rc = profile_alloc(p, "default", s->n_insts))) return rc;
    s->n_profiles = 1;
    for (size_t i = 0; i < s->n_insts; i++) {
      if (s->insts[i].type->kinds & (SY_SCHED_SCORER | SY_SCHED_PICKER | SY_SCHED_FILTER) &&
          !(s->insts[i].type->kinds & SY_SCHED_DETECTOR))
        if ((rc = add_profile_ref(s, p, &s->insts[i], 1.0, false, plugins, err))) return rc;
    }
  }
  for (size_t i = 0; i < n_prof; i++) {
    const sy_yaml_node_t *pn = profiles->items[i];
    static const char *const PRKEYS[] = {"name", "plugins", NULL};
    if (want_map(pn, "schedulingProfiles[]", err) || only_keys(pn, "schedulingProfiles[]", PRKEYS, err)) return SY_EINVAL;
    const sy_yaml_node_t *name = sy_yaml_get(pn, "name");
    if (!name || !sy_yaml_is_string(name) || name->len == 0)
      return sy_sched_errorf(err, name ? name : pn, "schedulingProfiles[]: name is required");
    for (size_t k = 0; k < s->n_profiles; k++) {
      if (!strcmp(s->profiles[k].name, name->text))
        return sy_sched_errorf(err, name, "schedulingProfiles[]: duplicate profile name \"%s\"", name->text);
    }
    const sy_yaml_node_t *refs = sy_yaml_get(pn, "plugins");
    if (refs && refs->kind != SY_YAML_SEQUENCE) return sy_sched_errorf(err, refs, "schedulingProfiles[].plugins: must be a list");
    size_t nr = refs ? refs->n : 0;
    sy_sched_profile_t *p = &s->profiles[s->n_profiles];
    if ((rc = profile_alloc(p, name->text, nr))) return rc;
    s->n_profiles++;
    for (size_t r = 0; r < nr; r++) {
      const sy_yaml_node_t *ref = refs->items[r];
      static const char *const RKEYS[] = {"pluginRef", "weight", NULL};
      if (want_map(ref, "plugins[]", err) || only_keys(ref, "schedulingProfiles[].plugins[]", RKEYS, err)) return SY_EINVAL;
      const sy_yaml_node_t *pr = sy_yaml_get(ref, "pluginRef");
      if (!pr || !sy_yaml_is_string(pr)) return sy_sched_errorf(err, pr ? pr : ref, "pluginRef: required");
      inst_t *in = sy_sched__inst_find(s, pr->text);
      if (!in) return sy_sched_errorf(err, pr, "pluginRef: no plugin named \"%s\"", pr->text);
      const sy_yaml_node_t *w = sy_yaml_get(ref, "weight");
      double weight = 1.0;
      if (w && (sy_yaml_as_double(w, &weight) != 0 || weight < 0))
        return sy_sched_errorf(err, w, "weight: must be a non-negative number");
      if ((rc = add_profile_ref(s, p, in, weight, w != NULL, pr, err))) return rc;
    }
  }
  for (size_t i = 0; i < s->n_profiles; i++) {
    if (!s->profiles[i].picker && !(s->profiles[i].picker = auto_inst(s, "max-score-picker", err, &rc))) return rc;
  }
  if (!s->handler) {
    if (s->n_profiles > 1) return sy_sched_errorf(err, profiles, "schedulingProfiles: several profiles need a profile handler plugin");
    if (!(s->handler = auto_inst(s, "single-profile-handler", err, &rc))) return rc;
  }

  /* saturation detector */
  const sy_yaml_node_t *sd = sy_yaml_get(root, "saturationDetector");
  if (sd) {
    static const char *const SDKEYS[] = {"pluginRef", NULL};
    if (want_map(sd, "saturationDetector", err) || only_keys(sd, "saturationDetector", SDKEYS, err)) return SY_EINVAL;
    const sy_yaml_node_t *pr = sy_yaml_get(sd, "pluginRef");
    inst_t *in = pr ? sy_sched__inst_find(s, pr->text) : NULL;
    if (!in || !(in->type->kinds & SY_SCHED_DETECTOR))
      return sy_sched_errorf(err, pr ? pr : sd, "saturationDetector.pluginRef: no saturation detector named \"%s\"", pr ? pr->text : "");
    s->detector = in;
  } else {
    for (size_t i = 0; i < s->n_insts && !s->detector; i++) {
      if (s->insts[i].type->kinds & SY_SCHED_DETECTOR) s->detector = &s->insts[i];
    }
    if (!s->detector && sy_sched_registry_find("utilization-detector") && !(s->detector = auto_inst(s, "utilization-detector", err, &rc)))
      return rc;
  }

  /* dataLayer: only the shape is checked; an explicit empty sources list
   * disables scraping, as upstream. */
  const sy_yaml_node_t *dl = sy_yaml_get(root, "dataLayer");
  if (dl) {
    static const char *const DLKEYS[] = {"sources", NULL};
    if (want_map(dl, "dataLayer", err) || only_keys(dl, "dataLayer", DLKEYS, err)) return SY_EINVAL;
    const sy_yaml_node_t *src = sy_yaml_get(dl, "sources");
    if (src && src->kind != SY_YAML_SEQUENCE) return sy_sched_errorf(err, src, "dataLayer.sources: must be a list");
    if (src && src->n == 0) s->datalayer.enabled = false;
    for (size_t i = 0; src && i < src->n; i++) {
      const sy_yaml_node_t *pr = sy_yaml_get(src->items[i], "pluginRef");
      if (!pr || !sy_sched__inst_find(s, pr->text))
        return sy_sched_errorf(err, pr ? pr : src->items[i], "dataLayer.sources[].pluginRef: no plugin named \"%s\"", pr ? pr->text : "");
    }
  }
  const sy_yaml_node_t *parser = sy_yaml_get(root, "parser");
  if (parser) {
    const sy_yaml_node_t *pr = sy_yaml_get(parser, "pluginRef");
    inst_t *in = pr ? sy_sched__inst_find(s, pr->text) : NULL;
    if (!in || strcmp(in->type->type, "openai-parser") != 0)
      return sy_sched_errorf(err, pr ? pr : parser, "parser.pluginRef: only openai-parser is supported");
  }

  /* link */
  for (size_t i = 0; i < s->n_insts; i++) {
    if (s->insts[i].type->link && (rc = s->insts[i].type->link(s->insts[i].state, s, err))) {
      prefix_msg(err, s->insts[i].name, s->insts[i].type->type);
      return rc;
    }
  }
  return 0;
}

int sy_sched_new_from_config(sy_sched_t **out, const char *origin, const char *text, size_t len, sy_sched_error_t *err) {
  sy_sched_error_t dummy;
  if (!err) err = &dummy;
  memset(err, 0, sizeof(*err));
  if (!text) {
    text = sy_sched_default_config;
    len = strlen(sy_sched_default_config);
    origin = "<built-in default config>";
  }
  snprintf(err->file, sizeof(err->file), "%s", origin ? origin : "<config>");
  sy_yaml_error_t yerr;
  sy_yaml_stream_t *ys = NULL;
  sy_yaml_limits_t lim = {.max_bytes = 4u << 20, .max_depth = 32, .max_nodes = 100000};
  int rc = sy_yaml_parse(err->file, text, len, &lim, &ys, &yerr);
  if (rc) {
    err->line = yerr.line;
    err->column = yerr.column;
    snprintf(err->msg, sizeof(err->msg), "%s", yerr.msg);
    return SY_EINVAL;
  }
  if (ys->n_docs != 1 || !ys->docs[0].root) {
    sy_yaml_stream_free(ys);
    return sy_sched_errorf(err, NULL, "expected exactly one EndpointPickerConfig document");
  }
  sy_sched_t *s = sy_calloc(1, sizeof(*s));
  size_t cap = 0;
  const sy_yaml_node_t *pl = sy_yaml_get(ys->docs[0].root, "plugins");
  cap = (pl ? pl->n : 0) + 8; /* + auto-created instances */
  if (s) s->insts = sy_calloc(cap, sizeof(inst_t));
  if (!s || !s->insts) {
    sy_free(s);
    sy_yaml_stream_free(ys);
    return -ENOMEM;
  }
  s->cap_insts = cap;
  pthread_mutex_init(&s->recent_mu, NULL);
  s->config_text = sy_strndup(text, len);
  s->datalayer.enabled = true;
  s->datalayer.scheme = sy_strdup("http");
  s->datalayer.path = sy_strdup("/metrics");
  s->datalayer.insecure_skip_verify = true;
  s->datalayer.engine_label_key = sy_strdup("inference.networking.k8s.io/engine-type");
  s->datalayer.default_engine = sy_strdup("vllm");
  rc = load(s, ys->docs[0].root, err);
  sy_yaml_stream_free(ys);
  if (rc) {
    sy_sched_free(s);
    return rc;
  }
  *out = s;
  return 0;
}
