#include "formats/weight_files.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "wick/error.h"

namespace wick {
namespace fs = std::filesystem;

WeightFiles::WeightFiles(const std::string& model_dir) {
  const fs::path dir(model_dir);
  const fs::path single = dir / "model.safetensors";
  const fs::path index = dir / "model.safetensors.index.json";
  std::vector<std::string> shard_names;
  if (fs::exists(index)) {
    std::ifstream in(index);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw Error(ErrorCode::kCorruptFile, index.string() + ": not valid JSON: " + e.what());
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      throw Error(ErrorCode::kCorruptFile, index.string() + ": no \"weight_map\" object");
    std::set<std::string> seen;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string())
        throw Error(ErrorCode::kCorruptFile, index.string() + ": weight_map[" + it.key() + "] is not a file name");
      const std::string f = it.value().get<std::string>();
      if (f.find('/') != std::string::npos || f == "..")
        throw Error(ErrorCode::kCorruptFile, index.string() + ": shard name '" + f + "' is not a plain file name");
      if (seen.insert(f).second) shard_names.push_back(f);
    }
    if (shard_names.empty()) throw Error(ErrorCode::kCorruptFile, index.string() + ": weight_map is empty");
  } else if (fs::exists(single)) {
    shard_names.push_back("model.safetensors");
  } else {
    throw Error(ErrorCode::kNotFound, "no weights in " + model_dir + ": expected model.safetensors or model.safetensors.index.json");
  }
  for (const auto& name : shard_names) {
    files_.push_back(std::make_unique<SafetensorsFile>((dir / name).string()));
    const SafetensorsFile* f = files_.back().get();
    for (const auto& [tname, t] : f->tensors()) {
      if (!index_.emplace(tname, std::make_pair(f, tname)).second)
        throw Error(ErrorCode::kCorruptFile, "tensor '" + tname + "' is stored twice (again in " + f->path() + ")");
    }
  }
  // __metadata__ aliases: "alias": "stored name", used by files that store tied tensors once.
  for (const auto& f : files_)
    for (const auto& [key, value] : f->metadata())
      if (!index_.count(key) && f->find(value)) index_.emplace(key, std::make_pair(f.get(), value));
}

FoundTensor WeightFiles::find(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) return {};
  return {*it->second.first->find(it->second.second), &it->second.first->path()};
}

std::string WeightFiles::describe() const {
  if (files_.size() == 1) return files_[0]->path();
  return std::to_string(files_.size()) + " shards (" + files_[0]->path() + ", ...)";
}

}  // namespace wick
