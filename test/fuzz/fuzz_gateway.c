/* libFuzzer target: bytes -> YAML -> Gateway API decoders (strict and
 * lenient, every kind on every document) -> status + route table -> lookups
 * derived from the decoded routes, picks and the filter helpers. ASan/UBSan
 * catch the bugs; a few invariants trap. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "gateway.h"
#include "yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const sy_gw_listen_port_t PORTS[] = {{80, SY_GW_PROTO_HTTP}, {443, SY_GW_PROTO_HTTPS}, {8080, SY_GW_PROTO_HTTP}};

/* Every kind's decoder on one node, both modes. */
static void decode_all(const sy_yaml_node_t *root) {
  for (int k = 0; k < SY_GW_KIND_COUNT; k++) {
    for (unsigned flags = 0; flags <= SY_GW_DECODE_LENIENT; flags++) {
      union {
        sy_gw_class_t c;
        sy_gw_gateway_t g;
        sy_gw_httproute_t r;
        sy_gw_refgrant_t rg;
        sy_gw_service_t s;
        sy_gw_endpointslice_t e;
        sy_gw_namespace_t n;
      } obj;
      sy_gw_error_t err;
      char buf[1200];
      if (sy_gw_object_decode((sy_gw_kind_t)k, root, "fuzz", flags, &obj, &err) == 0) {
        sy_gw_object_cleanup((sy_gw_kind_t)k, &obj);
      } else {
        sy_gw_error_str(&err, buf, sizeof(buf));
      }
    }
  }
}

static void exercise_table(const sy_gw_objects_t *o, const sy_gw_table_t *t) {
  char buf[2048];
  for (size_t i = 0; i < o->n_routes && i < 64; i++) {
    const sy_gw_httproute_t *r = o->routes[i];
    size_t nh = r->n_hostnames ? r->n_hostnames : 1;
    for (size_t h = 0; h < nh; h++) {
      const char *host = r->n_hostnames ? r->hostnames[h] : "any.example.com";
      char hb[300];
      snprintf(hb, sizeof(hb), "%s%s", host[0] == '*' ? "x" : "", host[0] == '*' ? host + 1 : host);
      for (size_t k = 0; k < r->n_rules; k++) {
        for (size_t m = 0; m < r->rules[k].n_matches; m++) {
          const sy_gw_match_t *mt = &r->rules[k].matches[m];
          sy_gw_req_header_t hdr[16];
          size_t n = 0;
          for (; n < mt->n_headers && n < 16; n++)
            hdr[n] = (sy_gw_req_header_t){mt->headers[n].name, strlen(mt->headers[n].name), mt->headers[n].value,
                                          strlen(mt->headers[n].value)};
          char q[512];
          size_t ql = 0;
          q[0] = '\0';
          for (size_t x = 0; x < mt->n_query && ql < sizeof(q) - 1; x++) {
            int w = snprintf(q + ql, sizeof(q) - ql, "%s%s=%s", x ? "&" : "", mt->query[x].name, mt->query[x].value);
            if (w < 0) break;
            ql = SY_MIN(ql + (size_t)w, sizeof(q) - 1);
          }
          const char *method = mt->method ? mt->method : "GET";
          for (int port_i = 0; port_i < 3; port_i++) {
            sy_gw_request_t req = {.port = PORTS[port_i].port, .host = hb, .host_len = strlen(hb), .method = method,
                                   .method_len = strlen(method), .path = mt->path, .path_len = strlen(mt->path),
                                   .query = q, .query_len = ql, .headers = hdr, .n_headers = n};
            sy_gw_match_info_t info;
            const sy_gw_rule_t *rule = sy_gw_table_lookup(t, &req, &info);
            if (!rule) continue;
            if (info.prefix_len > req.path_len) __builtin_trap();
            const sy_gw_backend_t *b;
            sy_gw_pick_t p = sy_gw_rule_pick(rule, (uint64_t)i * 31 + k, &b);
            if (p == SY_GW_PICK_OK && !b) __builtin_trap();
            if (rule->rewrite)
              (void)sy_gw_path_rewrite(&rule->rewrite->rewrite.path, req.path, req.path_len, info.prefix_len, buf,
                                       sizeof(buf));
            if (rule->redirect)
              (void)sy_gw_redirect_location(&rule->redirect->redirect, "http", req.host, req.host_len, req.port,
                                            req.path, req.path_len, info.prefix_len, q, ql, buf, sizeof(buf));
          }
        }
      }
    }
  }
  /* a few fixed requests, odd ones included */
  static const char *const paths[] = {"/", "", "/a/b/c", "//", "/%2f", "*"};
  static const char *const hosts[] = {"", "[::1]:80", "A.B.C.", "x.example.com:1", "."};
  for (size_t p = 0; p < SY_ARRAY_LEN(paths); p++)
    for (size_t h = 0; h < SY_ARRAY_LEN(hosts); h++) {
      sy_gw_request_t req = {.port = 80, .host = hosts[h], .host_len = strlen(hosts[h]), .method = "GET",
                             .method_len = 3, .path = paths[p], .path_len = strlen(paths[p]), .query = "a=%zz&b",
                             .query_len = 7};
      (void)sy_gw_table_lookup(t, &req, NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sy_yaml_limits_t lim = {.max_bytes = 1 << 20, .max_depth = 64, .max_nodes = 20000};
  sy_yaml_stream_t *s = NULL;
  sy_yaml_error_t yerr;
  if (sy_yaml_parse("fuzz.yaml", data, size, &lim, &s, &yerr) == 0) {
    for (size_t i = 0; i < s->n_docs && i < 16; i++)
      if (s->docs[i].root) decode_all(s->docs[i].root);
    sy_yaml_stream_free(s);
  } else {
    return 0; /* the loader below would fail the same way */
  }
  for (unsigned flags = 0; flags <= SY_GW_DECODE_LENIENT; flags++) {
    sy_gw_objects_t *o = NULL;
    sy_gw_error_t err;
    char buf[1200];
    if (sy_gw_objects_load_buffer("fuzz.yaml", (const char *)data, size, flags, &o, &err) != 0) {
      sy_gw_error_str(&err, buf, sizeof(buf));
      continue;
    }
    sy_gw_pool_ref_t pools[] = {{.namespace_name = "default", .name = "pool", .epp_name = "epp"},
                                {.namespace_name = "default", .name = "p2", .epp_kind = "X", .epp_name = "e"}};
    sy_gw_secret_ref_t secrets[] = {{"default", "cert"}};
    sy_gw_input_t in = {.controller_name = "switchyard.dev/gateway-controller", .ports = PORTS,
                        .n_ports = SY_ARRAY_LEN(PORTS), .pools = pools, .n_pools = 2,
                        .secrets_known = flags != 0, .secrets = secrets, .n_secrets = 1};
    sy_gw_objects_input(o, &in);
    sy_gw_status_t *st = NULL;
    sy_gw_table_t *t = NULL;
    if (sy_gw_compute(&in, &st, &t) == 0) {
      for (size_t i = 0; i < st->n_gateways; i++)
        for (size_t j = 0; j < st->gateways[i].n_listeners; j++)
          if (st->gateways[i].listeners[j].n_conds != 4 || st->gateways[i].listeners[j].attached_routes < 0)
            __builtin_trap();
      exercise_table(o, t);
      sy_gw_table_stats_t ts;
      sy_gw_table_stats(t, &ts);
      sy_gw_table_unref(t);
      sy_gw_status_free(st);
    }
    sy_gw_objects_free(o);
  }
  return 0;
}
