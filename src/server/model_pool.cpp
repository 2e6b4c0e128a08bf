#include "server/model_pool.h"

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace wick::server {

using Clock = std::chrono::steady_clock;

std::string model_name_from_path(const std::string& path) {
  std::filesystem::path p(path);
  while (!p.empty() && p.filename().empty()) p = p.parent_path();  // "dir/" -> "dir"
  std::string name = p.filename().string();
  if (name.size() > 5 && name.substr(name.size() - 5) == ".gguf") name.resize(name.size() - 5);
  return name.empty() ? path : name;
}

ModelPool::ModelPool(std::vector<std::pair<std::string, std::string>> models, PoolOptions opts) : opts_(std::move(opts)) {
  if (models.empty()) throw Error(ErrorCode::kInvalidArgument, "no model to serve");
  for (auto& [name, path] : models) {
    for (const Entry& e : entries_)
      if (e.name == name) throw Error(ErrorCode::kInvalidArgument, "two models are named '" + name + "'");
    Entry e;
    e.name = name;
    e.path = path;
    entries_.push_back(std::move(e));
  }
}

ModelPool::~ModelPool() { unload_all(); }

ModelPool::Lease& ModelPool::Lease::operator=(Lease&& o) noexcept {
  if (this != &o) {
    if (pool_ && m_) pool_->release(m_->name);
    pool_ = o.pool_;
    m_ = std::move(o.m_);
    o.pool_ = nullptr;
  }
  return *this;
}

ModelPool::Lease::~Lease() {
  if (pool_ && m_) pool_->release(m_->name);
}

std::shared_ptr<LoadedModel> ModelPool::load(const Entry& e) const {
  auto lm = std::make_shared<LoadedModel>();
  lm->name = e.name;
  lm->path = e.path;
  LoadOptions lo;
  lo.dtype = opts_.dtype;
  lm->model = Model::load(e.path, lo).value();
  lm->scheduler = Scheduler::create(lm->model, opts_.scheduler).value();
  lm->special_tokens = special_tokens_context(lm->model->tokenizer());
  std::string source = opts_.chat_template;
  if (source.empty()) source = lm->model->tokenizer().chat_template();
  if (source.empty()) {
    lm->chat_template_error = "model `" + e.name + "` has no chat template (serve it with --chat-template FILE.jinja)";
  } else {
    auto t = ChatTemplate::parse(source);
    if (t)
      lm->chat_template = t.value();
    else
      lm->chat_template_error = t.error().what();
  }
  if (!lm->chat_template)
    std::fprintf(stderr, "wick serve: %s: chat requests will fail: %s\n", e.name.c_str(), lm->chat_template_error.c_str());
  lm->created = static_cast<int64_t>(std::time(nullptr));
  return lm;
}

bool ModelPool::load_default() {
  Entry* e = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    e = &entries_.front();
    e->state = Entry::State::kLoading;
  }
  std::shared_ptr<LoadedModel> lm;
  std::string error;
  try {
    lm = load(*e);
  } catch (const std::exception& ex) {
    error = ex.what();
  }
  std::lock_guard<std::mutex> lock(mu_);
  starting_ = false;
  if (lm) {
    e->loaded = std::move(lm);
    e->state = Entry::State::kReady;
    e->last_used = Clock::now();
  } else {
    e->state = Entry::State::kFailed;
    e->error = error;
    std::fprintf(stderr, "wick serve: cannot load %s (%s): %s\n", e->name.c_str(), e->path.c_str(), error.c_str());
  }
  cv_.notify_all();
  return e->state == Entry::State::kReady;
}

bool ModelPool::ready() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !starting_ && !stopping_ && entries_.front().state == Entry::State::kReady;
}

bool ModelPool::stopping() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopping_;
}

int ModelPool::loaded_count() const {
  int n = 0;
  for (const Entry& e : entries_) n += e.state == Entry::State::kReady || e.state == Entry::State::kLoading ? 1 : 0;
  return n;
}

ModelPool::Lease ModelPool::acquire(const std::string& name) {
  std::unique_lock<std::mutex> lock(mu_);
  Entry* e = nullptr;
  for (Entry& x : entries_)
    if (x.name == name || (name.empty() && &x == &entries_.front())) e = &x;
  if (!e) throw model_not_found(name);
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opts_.load_wait_seconds));
  auto unavailable = [](const std::string& msg) {
    ApiError a(503, msg);
    a.retry_after = 1;
    return a;
  };
  for (;;) {
    if (stopping_) throw unavailable("the server is shutting down");
    if (starting_) throw unavailable("Loading model");
    switch (e->state) {
      case Entry::State::kReady:
        ++e->active;
        e->last_used = Clock::now();
        return Lease(this, e->loaded);
      case Entry::State::kFailed: throw ApiError(500, "model `" + e->name + "` failed to load: " + e->error);
      case Entry::State::kLoading:
        if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) throw unavailable("model `" + e->name + "` is still loading");
        continue;
      case Entry::State::kUnloaded: break;
    }
    // Make room: unload the least recently used idle model when max_loaded are in memory.
    if (opts_.max_loaded > 0 && loaded_count() >= opts_.max_loaded) {
      Entry* victim = nullptr;
      for (Entry& x : entries_)
        if (x.state == Entry::State::kReady && x.active == 0 && (!victim || x.last_used < victim->last_used)) victim = &x;
      if (!victim) {
        if (cv_.wait_until(lock, deadline) == std::cv_status::timeout)
          throw unavailable("all " + std::to_string(opts_.max_loaded) + " loaded models are busy");
        continue;
      }
      std::shared_ptr<LoadedModel> old = std::move(victim->loaded);
      victim->state = Entry::State::kUnloaded;
      std::fprintf(stderr, "wick serve: unloading %s (least recently used) to load %s\n", victim->name.c_str(), e->name.c_str());
      lock.unlock();
      old.reset();  // joins its scheduler; nobody holds it (active == 0)
      lock.lock();
      continue;
    }
    e->state = Entry::State::kLoading;
    lock.unlock();
    std::shared_ptr<LoadedModel> lm;
    std::string error;
    try {
      lm = load(*e);
    } catch (const std::exception& ex) {
      error = ex.what();
    }
    lock.lock();
    if (lm) {
      e->loaded = std::move(lm);
      e->state = Entry::State::kReady;
      std::fprintf(stderr, "wick serve: loaded %s\n", e->name.c_str());
    } else {
      e->state = Entry::State::kFailed;
      e->error = error;
    }
    cv_.notify_all();
  }
}

void ModelPool::release(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  for (Entry& e : entries_)
    if (e.name == name) {
      --e.active;
      e.last_used = Clock::now();
    }
  cv_.notify_all();
}

std::vector<ModelListing> ModelPool::list() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ModelListing> out;
  for (const Entry& e : entries_) {
    ModelListing l;
    l.name = e.name;
    l.path = e.path;
    l.loaded = e.state == Entry::State::kReady;
    if (l.loaded) {
      l.created = e.loaded->created;
      l.context_length = e.loaded->scheduler->engine_options().context_length;
    }
    out.push_back(l);
  }
  return out;
}

std::vector<std::shared_ptr<LoadedModel>> ModelPool::loaded() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<LoadedModel>> out;
  for (const Entry& e : entries_)
    if (e.state == Entry::State::kReady) out.push_back(e.loaded);
  return out;
}

void ModelPool::stop_admitting() {
  std::lock_guard<std::mutex> lock(mu_);
  stopping_ = true;
  cv_.notify_all();
}

bool ModelPool::wait_idle(double seconds) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::duration<double>(seconds), [&] {
    for (const Entry& e : entries_)
      if (e.active > 0) return false;
    return true;
  });
}

void ModelPool::unload_all() {
  std::vector<std::shared_ptr<LoadedModel>> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (Entry& e : entries_) {
      if (e.loaded) old.push_back(std::move(e.loaded));
      e.state = Entry::State::kUnloaded;
    }
  }
  for (auto& m : old) m->scheduler->cancel_all();  // requests still running end now (kCancelled)
  old.clear();
}

}  // namespace wick::server
