#include "server/http_server.h"

#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

#include "server/openai_format.h"

namespace wick::server {
namespace {

using Clock = std::chrono::steady_clock;
using Handler = void (*)(ServerContext&, const httplib::Request&, httplib::Response&);

thread_local Clock::time_point t_request_start;

std::string iso_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}

// Runs a handler; whatever it throws becomes an OpenAI-style error response.
httplib::Server::Handler wrap(ServerContext& ctx, Handler h) {
  return [&ctx, h](const httplib::Request& req, httplib::Response& res) {
    try {
      h(ctx, req, res);
    } catch (const ApiError& e) {
      reply_error(res, e);
    } catch (const Error& e) {
      reply_error(res, from_error(e));
    } catch (const std::exception& e) {
      reply_error(res, ApiError(500, e.what()));
    }
  };
}

void handle_models(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  json data = json::array();
  const std::string wanted = req.matches.size() > 1 ? std::string(req.matches[1]) : "";
  for (const ModelListing& m : ctx.pool.list()) {
    json e = {{"id", m.name}, {"object", "model"}, {"created", m.created}, {"owned_by", "wick"}, {"root", m.path}, {"parent", nullptr}};
    if (m.loaded) e["max_model_len"] = m.context_length;
    e["loaded"] = m.loaded;
    if (!wanted.empty() && m.name == wanted) {
      reply_json(res, 200, e);
      return;
    }
    data.push_back(e);
  }
  if (!wanted.empty()) throw model_not_found(wanted);
  reply_json(res, 200, {{"object", "list"}, {"data", data}});
}

bool authorized(const ServeOptions& o, const httplib::Request& req) {
  if (o.api_key.empty()) return true;
  const std::string auth = req.get_header_value("Authorization");
  return auth == "Bearer " + o.api_key;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(ErrorCode::kNotFound, "cannot read " + path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

int serve(const ServeOptions& given) {
  // Signals go to one thread that waits for them (blocked here, before any thread exists, so
  // every thread inherits the mask); a client that disconnects must not kill the process.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  ServeOptions opts = given;
  if (!opts.pool.chat_template.empty()) {  // --chat-template FILE: its text, checked now
    try {
      opts.pool.chat_template = read_file(opts.pool.chat_template);
    } catch (const Error& e) {
      std::fprintf(stderr, "wick serve: %s\n", e.what());
      return 1;
    }
    auto t = ChatTemplate::parse(opts.pool.chat_template);
    if (!t) {
      std::fprintf(stderr, "wick serve: --chat-template: %s\n", t.error().what());
      return 1;
    }
  }
  opts.pool.scheduler.max_waiting = opts.max_queue;
  std::unique_ptr<ModelPool> pool;
  try {
    pool = std::make_unique<ModelPool>(opts.models, opts.pool);
  } catch (const Error& e) {
    std::fprintf(stderr, "wick serve: %s\n", e.what());
    return 2;
  }
  Metrics metrics;
  ServerContext ctx{*pool, metrics, opts};

  httplib::Server svr;
  const int threads = opts.http_threads;
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  svr.set_payload_max_length(opts.max_body_bytes);
  svr.set_keep_alive_max_count(1000);
  svr.set_keep_alive_timeout(5);
  svr.set_tcp_nodelay(true);  // tokens leave at once (Nagle + delayed ACKs cost ~40 ms per event)
  int listen_fd = -1;
  svr.set_socket_options([&listen_fd](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_fd = sock;
  });
  svr.set_pre_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
    t_request_start = Clock::now();
    access_info() = AccessInfo{};
    if (req.path == "/health" || req.path == "/metrics" || authorized(opts, req)) return httplib::Server::HandlerResponse::Unhandled;
    reply_error(res, ApiError(401, "Incorrect API key provided: pass it as 'Authorization: Bearer <key>'.", "", "authentication_error"));
    return httplib::Server::HandlerResponse::Handled;
  });
  svr.set_error_handler([&](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;  // a handler already wrote a JSON error
    std::string msg;
    switch (res.status) {
      case 404: msg = "Not found: " + req.method + " " + req.path; break;
      case 405: msg = "Method not allowed: " + req.method + " " + req.path; break;
      case 413: msg = "The request body exceeds the limit of " + std::to_string(opts.max_body_bytes) + " bytes (--max-body-bytes)."; break;
      default: msg = "HTTP error " + std::to_string(res.status);
    }
    reply_json(res, res.status, error_json(ApiError(res.status, msg)));
  });
  svr.set_logger([&](const httplib::Request& req, const httplib::Response& res) {
    if (!opts.access_log) return;
    const AccessInfo& a = access_info();
    json line = {{"ts", iso_now()}, {"remote", req.remote_addr}, {"method", req.method}, {"path", req.path}, {"status", res.status}};
    if (!a.model.empty()) line["model"] = a.model;
    if (a.prompt_tokens >= 0) line["prompt_tokens"] = a.prompt_tokens;
    if (a.completion_tokens >= 0) line["completion_tokens"] = a.completion_tokens;
    line["ms"] = std::chrono::duration<double, std::milli>(Clock::now() - t_request_start).count();
    std::fprintf(stderr, "%s\n", dump(line).c_str());
  });

  svr.Get("/health", [&](const httplib::Request&, httplib::Response& res) {
    if (pool->ready())
      reply_json(res, 200, {{"status", "ok"}});
    else
      reply_json(
          res, 503,
          {{"error", {{"code", 503}, {"message", pool->stopping() ? "Shutting down" : "Loading model"}, {"type", "unavailable_error"}}}});
  });
  svr.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.render(*pool), "text/plain; version=0.0.4; charset=utf-8");
  });
  svr.Get("/v1/models", wrap(ctx, handle_models));
  svr.Get(R"(/v1/models/(.+))", wrap(ctx, handle_models));
  svr.Post("/v1/completions", wrap(ctx, handle_completions));
  svr.Post("/v1/chat/completions", wrap(ctx, handle_chat));
  svr.Post("/v1/embeddings", wrap(ctx, handle_embeddings));
  svr.Post("/v1/candidates", wrap(ctx, handle_candidates));
  svr.Post("/v1/score", wrap(ctx, handle_score));
  svr.Post("/tokenize", wrap(ctx, handle_tokenize));
  svr.Post("/detokenize", wrap(ctx, handle_detokenize));
  svr.Post("/apply-template", wrap(ctx, handle_apply_template));
  svr.Post("/execute", wrap(ctx, handle_execute));

  int port = opts.port;
  if (port == 0) {
    port = svr.bind_to_any_port(opts.host);
  } else if (!svr.bind_to_port(opts.host, port)) {
    port = -1;
  }
  if (port <= 0) {
    std::fprintf(stderr, "wick serve: cannot listen on %s:%d\n", opts.host.c_str(), opts.port);
    return 1;
  }
  // cpp-httplib 0.11 listens with a backlog of 5: 64 clients connecting at once would see
  // dropped handshakes and one-second retries. Linux lets listen() raise it on the bound socket.
  if (listen_fd >= 0) ::listen(listen_fd, SOMAXCONN);
  std::string names;
  for (const auto& [name, path] : opts.models) names += (names.empty() ? "" : ", ") + name + " (" + path + ")";
  std::fprintf(stderr, "wick serve: listening on http://%s:%d, models: %s\n", opts.host.c_str(), port, names.c_str());
  std::fflush(stderr);
  std::thread listener([&] { svr.listen_after_bind(); });

  if (!pool->load_default()) {
    svr.stop();
    listener.join();
    return 1;
  }
  std::fprintf(stderr, "wick serve: ready (%s)\n", pool->default_name().c_str());
  std::fflush(stderr);

  int sig = 0;
  sigwait(&signals, &sig);
  std::fprintf(stderr, "wick serve: %s: finishing in-flight requests (up to %.0f s)\n", sig == SIGTERM ? "SIGTERM" : "SIGINT",
               opts.shutdown_grace_seconds);
  pool->stop_admitting();
  const bool drained = pool->wait_idle(opts.shutdown_grace_seconds);
  if (!drained) std::fprintf(stderr, "wick serve: grace period over: cancelling the requests still running\n");
  pool->unload_all();
  pool->wait_idle(10);  // cancelled requests end at once
  svr.stop();
  listener.join();
  std::fprintf(stderr, "wick serve: stopped\n");
  return 0;
}

}  // namespace wick::server
