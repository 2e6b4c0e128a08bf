// Typed access to JSON fields with errors that name the file and the field.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace wick {

class JsonFields {
 public:
  JsonFields(const nlohmann::json& j, std::string file) : j_(j), file_(std::move(file)) {}
  const nlohmann::json& json() const { return j_; }
  const std::string& file() const { return file_; }

  bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }
  int positive_int(const char* key) const;  // required, > 0
  int int_or(const char* key, int fallback) const;
  double number_or(const char* key, double fallback) const;
  bool bool_or(const char* key, bool fallback) const;
  std::string string_or(const char* key, const std::string& fallback) const;
  // An int or a list of ints (eos_token_id); empty when absent.
  std::vector<int> int_list(const char* key) const;
  [[noreturn]] void fail(const std::string& what) const;

 private:
  const nlohmann::json& j_;
  std::string file_;
};

nlohmann::json read_json_file(const std::string& path);

}  // namespace wick
