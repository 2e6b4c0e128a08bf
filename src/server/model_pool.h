// The models one server serves, by name: each loaded once and shared by all its requests (one
// Scheduler each), loaded on first use, and — with max_loaded — the least recently used idle
// one unloaded to make room. Requests hold a Lease while they run, so a model in use is never
// unloaded under them.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/api_error.h"
#include "wick/chat_template.h"
#include "wick/scheduler.h"

namespace wick::server {

struct PoolOptions {
  SchedulerOptions scheduler;      // per model
  std::string dtype;               // LoadOptions::dtype
  std::string chat_template;       // a template for every model (overrides theirs); "" = their own
  int max_loaded = 0;              // 0: no limit
  double load_wait_seconds = 600;  // how long a request waits for a load or a free slot
};

struct LoadedModel {
  std::string name, path;
  std::shared_ptr<Model> model;
  std::unique_ptr<Scheduler> scheduler;
  std::shared_ptr<const ChatTemplate> chat_template;  // null: see chat_template_error
  std::string chat_template_error;
  json special_tokens;  // bos_token / eos_token for chat templates
  int64_t created = 0;  // unix seconds
};

struct ModelListing {
  std::string name, path;
  bool loaded = false;
  int64_t created = 0;
  int context_length = 0;  // 0 when not loaded
};

class ModelPool {
 public:
  // models: (name, path) pairs; the first is the default.
  ModelPool(std::vector<std::pair<std::string, std::string>> models, PoolOptions opts);
  ~ModelPool();

  // Loads the default model; until it returns, every request is refused with 503 "Loading
  // model" and ready() is false. Returns false (and logs) if it failed.
  bool load_default();
  bool ready() const;
  bool stopping() const;

  class Lease {
   public:
    Lease() = default;
    Lease(ModelPool* pool, std::shared_ptr<LoadedModel> m) : pool_(pool), m_(std::move(m)) {}
    Lease(Lease&& o) noexcept : pool_(o.pool_), m_(std::move(o.m_)) { o.pool_ = nullptr; }
    Lease& operator=(Lease&& o) noexcept;
    ~Lease();
    LoadedModel* operator->() const { return m_.get(); }
    LoadedModel& operator*() const { return *m_; }
    explicit operator bool() const { return m_ != nullptr; }

   private:
    ModelPool* pool_ = nullptr;
    std::shared_ptr<LoadedModel> m_;
  };

  // The model `name` ("" = the default), loading it first if needed (waiting for a free slot
  // under max_loaded). 404 for an unknown name, 503 while the server starts or stops.
  Lease acquire(const std::string& name);

  std::vector<ModelListing> list() const;
  // Loaded models, for metrics (the pointers stay valid while the caller holds them).
  std::vector<std::shared_ptr<LoadedModel>> loaded() const;
  const std::string& default_name() const { return entries_.front().name; }

  // Shutdown: refuse new requests (503); wait until no request holds a model or `seconds`
  // pass; then unload everything (cancelling what is still running).
  void stop_admitting();
  bool wait_idle(double seconds);
  void unload_all();

 private:
  struct Entry {
    std::string name, path;
    enum class State { kUnloaded, kLoading, kReady, kFailed } state = State::kUnloaded;
    std::shared_ptr<LoadedModel> loaded;
    int active = 0;
    std::chrono::steady_clock::time_point last_used;
    std::string error;
  };
  std::shared_ptr<LoadedModel> load(const Entry& e) const;  // slow; no lock held
  void release(const std::string& name);
  int loaded_count() const;

  PoolOptions opts_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Entry> entries_;
  bool starting_ = true;
  bool stopping_ = false;
};

// The path's last component without a .gguf extension: the default name of `-m PATH`.
std::string model_name_from_path(const std::string& path);

}  // namespace wick::server
