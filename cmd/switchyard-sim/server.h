/*
 * server — the libwebsockets HTTP/1.1 front of the simulator. One lws
 * service thread (the caller of sy_sim_server_run) owns everything; the only
 * call allowed from another thread is sy_sim_server_stop.
 */
#ifndef SY_SIM_SERVER_H
#define SY_SIM_SERVER_H

#include "sim.h"

typedef struct sy_sim_server sy_sim_server_t;

/* Creates the lws context and binds the listen socket. `cfg` must outlive
 * the server. 0, -errno when the address cannot be bound (EADDRINUSE,
 * EADDRNOTAVAIL), SY_EINVAL (not an IPv4 address, or lws refused) or
 * -ENOMEM. */
int sy_sim_server_new(sy_sim_server_t **out, const sy_sim_config_t *cfg);

/* Serves until sy_sim_server_stop. Returns 0, or a negative code when the
 * event loop failed. */
int sy_sim_server_run(sy_sim_server_t *s);

/* Asks sy_sim_server_run to return. Safe from any thread (not from a signal
 * handler: use a signal-waiting thread). */
void sy_sim_server_stop(sy_sim_server_t *s);

/* Closes every connection (in-flight requests are aborted) and frees the
 * server. NULL is a no-op. Call on the thread that ran the server. */
void sy_sim_server_free(sy_sim_server_t *s);

#endif /* SY_SIM_SERVER_H */
