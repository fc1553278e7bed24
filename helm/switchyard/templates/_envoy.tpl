{{/*
The Envoy bootstrap of the sidecar: the one source of this config. It goes
into the ConfigMap <release>-envoy (envoy-configmap.yaml) and, with
envoyBootstrapOnly=true, is printed bare (envoy-bootstrap.yaml) for tools and
tests, which set every port (and the listen address) through values:

  helm template t helm/switchyard --set envoyBootstrapOnly=true \
    --set router.proxy.listenAddress=127.0.0.1 --set router.proxy.listenerPort=18081 \
    --set router.proxy.readyPort=19101 --set router.proxy.adminPort=19100 \
    --set router.epp.extProcPort=19002 --set router.epp.secureServing=false

Shape (as GAIE's and llm-d's standalone charts): listener -> HTTP connection
manager -> ext_proc filter (headers SEND, bodies FULL_DUPLEX_STREAMED,
trailers SEND) -> router -> ORIGINAL_DST cluster that connects to the ip:port
the EPP put in the x-gateway-destination-endpoint request header. The
ext_proc cluster is switchyard on 127.0.0.1 (same pod), over TLS without
verification when router.epp.secureServing (switchyard's default, a
self-signed certificate) and plaintext HTTP/2 otherwise.

mode=gateway adds what examples/envoy/gateway.yaml has: a header_mutation
filter telling switchyard the listener port (x-switchyard-listener-port),
ext_proc mutation_rules allow_all_routing (HTTPRoute rewrites of :authority
and :path) and allow_envoy (HTTPRoute timeouts as x-envoy-upstream-rq-*
headers), and an HTTP/2-cleartext ORIGINAL_DST cluster chosen when
switchyard sets x-switchyard-upstream-protocol: h2c.
*/}}
{{- define "switchyard.envoy.bootstrap" -}}
{{- $p := .Values.router.proxy -}}
{{- $epp := .Values.router.epp -}}
{{- $tls := $epp.secureServing -}}
{{- $gw := eq .Values.mode "gateway" -}}
# Envoy bootstrap for the switchyard sidecar, rendered by the switchyard Helm
# chart (helm/switchyard/templates/_envoy.tpl). Envoy asks switchyard (the
# Endpoint Picker, over ext_proc gRPC) which model-server endpoint serves each
# request, then forwards the request there.
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: {{ int $p.adminPort }} }

# An explicit cap on downstream connections (Envoy warns without one).
overload_manager:
  resource_monitors:
  - name: envoy.resource_monitors.global_downstream_max_connections
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig
      max_active_downstream_connections: {{ int $p.maxDownstreamConnections }}

static_resources:
  listeners:
  # Readiness (GET /ready -> 200 while Envoy runs) and Envoy's own metrics
  # (/stats/prometheus, from the admin interface).
  - name: ready
    address:
      socket_address: { address: {{ $p.listenAddress | quote }}, port_value: {{ int $p.readyPort }} }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ready
          route_config:
            name: ready
            virtual_hosts:
            - name: ready
              domains: ["*"]
              routes:
              - match: { prefix: /stats/prometheus }
                route: { cluster: prometheus_stats }
          http_filters:
          - name: envoy.filters.http.health_check
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck
              pass_through_mode: false
              headers:
              - name: ":path"
                string_match: { exact: /ready }
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router

  - name: {{ $gw | ternary "gateway" "inference" }}
    address:
      socket_address: { address: {{ $p.listenAddress | quote }}, port_value: {{ int $p.listenerPort }} }
    # Bodies are streamed (not buffered) through ext_proc and the router, so
    # this only bounds per-connection read/write buffers; 1 MiB prompts pass.
    per_connection_buffer_limit_bytes: 1048576
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: inference
          codec_type: AUTO
          # LLM responses stream for minutes: no stream idle / request timeouts.
          stream_idle_timeout: 0s
          request_timeout: 0s
          use_remote_address: true
          normalize_path: true
          merge_slashes: true
          path_with_escaped_slashes_action: UNESCAPE_AND_REDIRECT
          server_header_transformation: PASS_THROUGH
          common_http_protocol_options:
            headers_with_underscores_action: REJECT_REQUEST
          http2_protocol_options:
            max_concurrent_streams: 100
            initial_stream_window_size: 65536
            initial_connection_window_size: 1048576
          route_config:
            name: inference
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              {{- if $gw }}
              # Pools whose appProtocol is kubernetes.io/h2c: switchyard sets
              # this header (ext_proc clears the route cache after it).
              - match:
                  prefix: "/"
                  headers:
                  - name: x-switchyard-upstream-protocol
                    string_match: { exact: h2c }
                route:
                  cluster: original_destination_cluster_h2c
                  timeout: 0s
              {{- end }}
              - match: { prefix: "/" }
                route:
                  cluster: original_destination_cluster
                  timeout: 0s
              {{- if $p.debugResponseHeaders }}
              # Which endpoint the EPP chose, and which host Envoy really used.
              response_headers_to_add:
              - header: { key: x-gateway-destination-endpoint, value: "%REQ(x-gateway-destination-endpoint)%" }
              - header: { key: x-upstream-host, value: "%UPSTREAM_HOST%" }
              {{- end }}
          http_filters:
          {{- if $gw }}
          # Which Gateway listener the request came in on: one switchyard
          # serves the listeners of every Gateway of its class.
          - name: envoy.filters.http.header_mutation
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation
              mutations:
                request_mutations:
                - append:
                    header: { key: x-switchyard-listener-port, value: "{{ int $p.listenerPort }}" }
                    append_action: OVERWRITE_IF_EXISTS_OR_ADD
          {{- end }}
          - name: envoy.filters.http.ext_proc
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor
              grpc_service:
                envoy_grpc: { cluster_name: ext_proc, authority: "localhost:{{ int $epp.extProcPort }}" }
                timeout: 10s
              processing_mode:
                request_header_mode: SEND
                response_header_mode: SEND
                request_body_mode: FULL_DUPLEX_STREAMED
                response_body_mode: FULL_DUPLEX_STREAMED
                request_trailer_mode: SEND
                response_trailer_mode: SEND
              message_timeout: 1000s
              failure_mode_allow: {{ $p.failOpen | default false }}
              {{- if $gw }}
              # HTTPRoute URLRewrite changes :authority (and :path); HTTPRoute
              # timeouts arrive as x-envoy-upstream-rq-(per-try-)timeout-ms.
              mutation_rules:
                allow_all_routing: true
                allow_envoy: true
              {{- end }}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
              suppress_envoy_headers: true

  clusters:
  {{- if $gw }}
  # Model servers speaking HTTP/2 cleartext (x-switchyard-upstream-protocol: h2c).
  - name: original_destination_cluster_h2c
    type: ORIGINAL_DST
    lb_policy: CLUSTER_PROVIDED
    connect_timeout: 5s
    original_dst_lb_config:
      use_http_header: true
      http_header_name: x-gateway-destination-endpoint
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config:
          http2_protocol_options: {}
    circuit_breakers:
      thresholds:
      - max_connections: 40000
        max_pending_requests: 40000
        max_requests: 40000

  {{- end }}
  # Model servers: the destination is whatever ip:port the EPP wrote into the
  # x-gateway-destination-endpoint header (one endpoint; the EPP default).
  - name: original_destination_cluster
    type: ORIGINAL_DST
    lb_policy: CLUSTER_PROVIDED
    connect_timeout: 5s
    original_dst_lb_config:
      use_http_header: true
      http_header_name: x-gateway-destination-endpoint
    circuit_breakers:
      thresholds:
      - max_connections: 40000
        max_pending_requests: 40000
        max_requests: 40000
    {{- if and (not $gw) (eq .Values.router.modelServers.protocol "grpc") }}
    # router.modelServers.protocol grpc: the model servers speak HTTP/2
    # cleartext (the pool's appProtocol kubernetes.io/h2c).
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config:
          http2_protocol_options: {}
    {{- end }}

  # The Endpoint Picker (switchyard), gRPC over HTTP/2 on 127.0.0.1.
  - name: ext_proc
    type: STATIC
    connect_timeout: 5s
    lb_policy: LEAST_REQUEST
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config:
          http2_protocol_options:
            initial_stream_window_size: 65536
            initial_connection_window_size: 1048576
    circuit_breakers:
      thresholds:
      - max_connections: 40000
        max_pending_requests: 40000
        max_requests: 40000
        max_retries: 1024
    {{- if $p.extProcHealthCheck }}
    # gRPC health of the ext_proc service on the ext_proc port (switchyard
    # runs with --health-checking).
    health_checks:
    - timeout: 2s
      interval: 10s
      unhealthy_threshold: 3
      healthy_threshold: 2
      reuse_connection: true
      grpc_health_check:
        service_name: envoy.service.ext_proc.v3.ExternalProcessor
      {{- if $tls }}
      tls_options:
        alpn_protocols: ["h2"]
      {{- end }}
    {{- end }}
    load_assignment:
      cluster_name: ext_proc
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: 127.0.0.1, port_value: {{ int $epp.extProcPort }} }
    {{- if $tls }}
    # switchyard serves TLS with a self-signed certificate by default
    # (--secure-serving=true, as the upstream EPP): Envoy dials TLS without
    # verifying it, like GAIE's chart.
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
        common_tls_context:
          alpn_protocols: ["h2"]
          validation_context: {}
    {{- end }}

  # Envoy's admin interface, for /stats/prometheus on the ready listener.
  - name: prometheus_stats
    type: STATIC
    connect_timeout: 0.25s
    load_assignment:
      cluster_name: prometheus_stats
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: 127.0.0.1, port_value: {{ int $p.adminPort }} }
{{- end -}}
