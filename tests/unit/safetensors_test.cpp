// Malformed safetensors files: each is a clear error naming the file, never a crash or an
// out-of-bounds read (this suite also runs under the asan preset).
#include <cstring>
#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "test_util.h"
#include "wick/error.h"

namespace wick::test {
namespace {

std::string make_file(std::string header, size_t data_bytes, int64_t header_len_override = -1) {
  while (header.size() % 8) header.push_back(' ');  // keep tensor data aligned, as writers do
  std::string out(8, '\0');
  const uint64_t len = header_len_override >= 0 ? static_cast<uint64_t>(header_len_override) : header.size();
  std::memcpy(out.data(), &len, 8);
  out += header;
  out += std::string(data_bytes, '\x01');
  return out;
}

std::string error_of(const std::string& bytes, ErrorCode* code = nullptr) {
  TempDir d;
  write_file(d.file("m.safetensors"), bytes);
  try {
    SafetensorsFile f(d.file("m.safetensors"));
  } catch (const Error& e) {
    if (code) *code = e.code();
    return e.what();
  }
  return "";
}

TEST(Safetensors, ReadsValidFileAndMetadata) {
  TempDir d;
  std::vector<float> v = {1, 2, 3, 4, 5, 6};
  TensorToWrite t{"w", DType::F32, {2, 3}, std::vector<uint8_t>(24)};
  std::memcpy(t.bytes.data(), v.data(), 24);
  write_safetensors(d.file("a.safetensors"), {t}, {{"alias", "w"}});
  SafetensorsFile f(d.file("a.safetensors"));
  const Tensor* w = f.find("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->rows(), 2);
  EXPECT_EQ(w->cols(), 3);
  EXPECT_EQ(static_cast<const float*>(w->data)[5], 6.0f);
  EXPECT_EQ(f.metadata().at("alias"), "w");
}

TEST(Safetensors, TooShort) { EXPECT_NE(error_of("abc").find("too short"), std::string::npos); }

TEST(Safetensors, HeaderLengthBeyondFile) {
  const std::string msg = error_of(make_file("{}", 0, 1000));
  EXPECT_NE(msg.find("beyond the end of the file"), std::string::npos) << msg;
  EXPECT_NE(msg.find("m.safetensors"), std::string::npos) << msg;
  EXPECT_NE(error_of(make_file("{}", 0, int64_t(1) << 62)).find("exceeds"), std::string::npos);
}

TEST(Safetensors, InvalidJson) {
  EXPECT_NE(error_of(make_file("{\"a\": [", 0)).find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of(make_file("[1,2]   ", 0)).find("not a JSON object"), std::string::npos);
}

TEST(Safetensors, TruncatedData) {
  const std::string h = R"({"w":{"dtype":"F32","shape":[4,4],"data_offsets":[0,64]}})";
  const std::string msg = error_of(make_file(h, 32));
  EXPECT_NE(msg.find("beyond the data section"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'w'"), std::string::npos) << msg;
}

TEST(Safetensors, OffsetsDisagreeWithShape) {
  const std::string h = R"({"w":{"dtype":"F32","shape":[4,4],"data_offsets":[0,60]}})";
  EXPECT_NE(error_of(make_file(h, 64)).find("needs 64 bytes"), std::string::npos);
}

TEST(Safetensors, OverlappingTensors) {
  const std::string h = R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})";
  EXPECT_NE(error_of(make_file(h, 24)).find("overlap"), std::string::npos);
}

TEST(Safetensors, ReversedAndNegativeOffsets) {
  EXPECT_NE(error_of(make_file(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[16,8]}})", 24)).find("begin"), std::string::npos);
  EXPECT_NE(error_of(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 24)).find("data_offsets"), std::string::npos);
}

TEST(Safetensors, UnknownDtypeIsUnsupported) {
  ErrorCode code{};
  const std::string msg = error_of(make_file(R"({"a":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})", 8), &code);
  EXPECT_EQ(code, ErrorCode::kUnsupported);
  EXPECT_NE(msg.find("F8_E4M3"), std::string::npos);
}

TEST(Safetensors, AbsurdShapes) {
  EXPECT_NE(error_of(make_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 8)).find("absurd"),
            std::string::npos);
  EXPECT_NE(error_of(make_file(R"({"a":{"dtype":"F32","shape":[1,1,1,1,1],"data_offsets":[0,4]}})", 8)).find("dimensions"),
            std::string::npos);
  EXPECT_NE(error_of(make_file(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 8)).find("negative"), std::string::npos);
}

TEST(Safetensors, MissingFile) {
  try {
    SafetensorsFile f("/nonexistent/x.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  }
}

TEST(Safetensors, RandomCorruptionNeverCrashes) {
  // Corrupt a valid image and parse it from memory (an exact-size heap buffer, so ASan sees any
  // read past the end, which a page-rounded mapping would hide): every outcome is a parsed file
  // whose every claimed byte is readable, or an Error. Edits that touch only tensor bytes must
  // be accepted (weights are not validated), truncations must be rejected, and the totals are
  // deterministic: a change in them means the validation changed.
  TempDir d;
  TensorToWrite t{"weight", DType::BF16, {3, 5}, std::vector<uint8_t>(30, 7)};
  write_safetensors(d.file("ok.safetensors"), {t, {"bias", DType::F16, {5}, std::vector<uint8_t>(10, 1)}});
  const std::string good = read_file(d.file("ok.safetensors"));
  uint64_t header_len = 0;
  std::memcpy(&header_len, good.data(), 8);
  const size_t data_start = 8 + header_len;
  uint32_t seed = 12345;
  int accepted = 0, rejected = 0, data_only = 0, truncated = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string bad = good;
    bool header_touched = false;
    for (int k = 0; k < 3; ++k) {
      seed = seed * 1664525u + 1013904223u;
      // Mostly the header (where the parser's decisions are), sometimes the tensor bytes.
      const size_t at = (i % 4 == 3) ? data_start + seed % (good.size() - data_start) : seed % std::min<size_t>(good.size(), 160);
      header_touched |= at < data_start && bad[at] != static_cast<char>(seed >> 24);
      bad[at] = static_cast<char>(seed >> 24);
    }
    seed = seed * 1664525u + 1013904223u;
    const bool cut = i % 5 == 0;
    if (cut) bad.resize(seed % bad.size());
    bool ok = false;
    try {
      SafetensorsFile f(std::vector<uint8_t>(bad.begin(), bad.end()), "bad.safetensors");
      for (const auto& [name, tensor] : f.tensors()) {  // touch every byte it claims to have
        const auto* p = static_cast<const uint8_t*>(tensor.data);
        uint8_t sink = 0;
        for (uint64_t b = 0; b < tensor.nbytes(); ++b) sink = static_cast<uint8_t>(sink ^ p[b]);
        asm volatile("" : : "r"(sink));  // keep the reads: ASan checks each one
      }
      ok = true;
    } catch (const Error&) {}
    (ok ? accepted : rejected) += 1;
    if (cut) {
      ++truncated;
      EXPECT_FALSE(ok) << "trial " << i << ": a file cut to " << bad.size() << " of " << good.size() << " bytes was accepted";
    } else if (!header_touched) {
      ++data_only;
      EXPECT_TRUE(ok) << "trial " << i << ": edits of tensor bytes only were rejected";
    }
  }
  std::printf("[safetensors] 2000 corruptions: %d accepted, %d rejected (%d truncated: all rejected; %d data-only: all accepted)\n",
              accepted, rejected, truncated, data_only);
  EXPECT_EQ(truncated, 400);
  EXPECT_EQ(data_only, 407);
  // Measured totals (the corruptions are seeded, the parser deterministic): 7 header edits land
  // where they change nothing the format checks (e.g. inside a name's bytes).
  EXPECT_EQ(accepted, 414) << "the header validation changed: look at what it now lets through or refuses";
  EXPECT_EQ(rejected, 1586);
}

}  // namespace
}  // namespace wick::test
