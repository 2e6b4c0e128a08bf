#include "test_util.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace fs = std::filesystem;

namespace wick::test {

std::string testdata_dir() {
  if (const char* e = std::getenv("WICK_TESTDATA"); e && fs::exists(e)) return e;
  const fs::path beside = fs::path(WICK_SOURCE_DIR).parent_path() / "shared" / "testdata";
  if (fs::exists(beside)) return beside.string();
  return "";
}

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && *ci && std::string(ci) != "0" && std::string(ci) != "false";
}

TempDir::TempDir() {
  std::random_device rd;
  path_ = (fs::temp_directory_path() / ("wick-test-" + std::to_string(rd()) + std::to_string(rd()))).string();
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

int run_command(const std::string& cmd, std::string* output) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  if (output) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string test_name_of_path(const std::string& path) {
  std::string name = path.substr(path.find('/') + 1);
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

std::string bin(const std::string& tool) { return std::string(WICK_BIN_DIR) + "/" + tool; }

std::string torch_python() {
  static const std::string py = [] {
    const std::string candidate = "/usr/bin/python3";
    return run_command(candidate + " -c 'import torch' 2>/dev/null") == 0 ? candidate : std::string();
  }();
  return py;
}

void write_file(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> tokenizer_test_strings() {
  std::vector<std::string> out;
  const std::string all = read_file(std::string(WICK_SOURCE_DIR) + "/tests/data/tokenizer_strings.txt");
  const std::string sep = "\n__wick_string__\n";
  size_t pos = 0;
  for (size_t hit; (hit = all.find(sep, pos)) != std::string::npos; pos = hit + sep.size()) out.push_back(all.substr(pos, hit - pos));
  out.push_back(all.substr(pos));
  for (const char* s : {"", " ", "  ", "\n", "\t\n \r\n", "a", "Hello world", " leading", "trailing ", "🦙", "x  y   z"})
    out.push_back(s);
  return out;
}

}  // namespace wick::test
