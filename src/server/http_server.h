// `wick serve`: the HTTP front of the model pool — routes, bearer-token authentication, body
// limits, JSON errors for everything (including what cpp-httplib itself rejects), one access-log
// line per request, /health, /metrics, /v1/models, and a graceful shutdown on SIGTERM / SIGINT:
// stop admitting (503), let in-flight requests finish within the grace period, cancel the rest,
// exit 0.
#pragma once

#include "server/server_context.h"

namespace wick::server {

// Runs the server until SIGTERM or SIGINT. Returns the process exit status.
int serve(const ServeOptions& opts);

}  // namespace wick::server
