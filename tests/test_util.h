// Helpers shared by the tests: locating the test data, temporary directories, running tools.
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace wick::test {

// $WICK_TESTDATA or ../shared/testdata beside the checkout; "" if absent.
std::string testdata_dir();
// True when the CI environment variable is set: then every oracle and data set must be there.
bool in_ci();
// A test that cannot run for want of `what` (test data, python3-torch, ...): skipped with a loud
// message locally, a failure in CI, where a skip would hide a missing install step.
#define WICK_MISSING(what)                                                                           \
  do {                                                                                               \
    if (::wick::test::in_ci()) FAIL() << "*** " << (what) << " (CI is set: it must be present) ***"; \
    GTEST_SKIP() << "*** " << (what) << ": this test did not run ***";                               \
  } while (0)
// Skips (fails in CI) the current test when the test data is missing.
#define WICK_REQUIRE_TESTDATA()                                                                           \
  do {                                                                                                    \
    if (::wick::test::testdata_dir().empty())                                                             \
      WICK_MISSING("TEST DATA MISSING: set WICK_TESTDATA or put ../shared/testdata beside the checkout"); \
  } while (0)

// A fresh directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Runs a shell command; returns its exit status and captures stdout (+stderr if asked).
int run_command(const std::string& cmd, std::string* output = nullptr);
std::string bin(const std::string& tool);  // path of a built tool (wick, wick-make-model)
// /usr/bin/python3 when it can import torch, else "".
std::string torch_python();
void write_file(const std::string& path, const std::string& bytes);
std::string read_file(const std::string& path);
// tests/data/tokenizer_strings.txt (adversarial texts for every tokenizer) plus a few edge cases.
std::vector<std::string> tokenizer_test_strings();
// A test-data path as a test name: what follows the first '/', other than letters and digits as '_'
// ("vocab-gguf/ggml-vocab-phi-3.gguf" -> "ggml_vocab_phi_3_gguf").
std::string test_name_of_path(const std::string& path);

}  // namespace wick::test
