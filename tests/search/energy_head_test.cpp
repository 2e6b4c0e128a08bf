// The energy head against an independent float64 PyTorch implementation
// (tests/reference/energy_head_reference.py) on random weights, for every activation with and
// without LayerNorm; a state's energy is the same in any batch, bit for bit; bad heads are clear
// errors; the model checks (hidden size, embedding dtype).
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "test_util.h"
#include "wick/energy_head.h"

namespace wick {
namespace {

TEST(EnergyHead, MatchesPyTorchFloat64AndIsBatchInvariant) {
  const std::string py = test::torch_python();
  if (py.empty()) WICK_MISSING("/usr/bin/python3 with torch (Debian python3-torch) is missing: the reference comparison");
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int n = 9, dim = 96;
  std::vector<std::vector<float>> emb(n, std::vector<float>(dim));
  for (auto& v : emb)
    for (auto& x : v) x = nd(rng);
  for (const char* act : {"silu", "relu", "gelu", "gelu_pytorch_tanh"})
    for (bool ln : {false, true}) {
      SCOPED_TRACE(std::string(act) + (ln ? " + layer_norm" : ""));
      test::TempDir tmp;
      EnergyHeadConfig c;
      c.input_dim = dim;
      c.hidden = {64, 24};
      c.activation = act;
      c.layer_norm = ln;
      c.normalize_input = ln;  // exercised once per activation
      ASSERT_TRUE(write_random_energy_head(tmp.path(), c, 5));
      auto head = EnergyHead::load(tmp.path(), 2);
      ASSERT_TRUE(head) << head.error().what();
      auto got = head.value()->energies(emb);
      ASSERT_TRUE(got) << got.error().what();
      test::write_file(tmp.file("emb.json"), nlohmann::json(emb).dump());
      std::string out;
      ASSERT_EQ(
          test::run_command(
              py + " " + WICK_SOURCE_DIR "/tests/reference/energy_head_reference.py " + tmp.path() + " " + tmp.file("emb.json"), &out),
          0)
          << out;
      const auto want = nlohmann::json::parse(out).get<std::vector<double>>();
      ASSERT_EQ(want.size(), got->size());
      double scale = 0, err = 0;
      for (size_t i = 0; i < want.size(); ++i) {
        scale = std::max(scale, std::fabs(want[i]));
        err = std::max(err, std::fabs(want[i] - got.value()[i]));
      }
      EXPECT_LT(err, 2e-5 * std::max(1.0, scale)) << "max abs error " << err;
      // The same head on the reference backend (its weights and activations in arena memory).
      auto on_reference = EnergyHead::load(tmp.path(), 1, "reference");
      ASSERT_TRUE(on_reference) << on_reference.error().what();
      auto ref_got = on_reference.value()->energies(emb);
      ASSERT_TRUE(ref_got) << ref_got.error().what();
      for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(ref_got.value()[i], want[i], 2e-5 * std::max(1.0, scale)) << "reference backend";
      for (int i = 0; i < n; ++i) {
        auto alone = head.value()->energies(emb[static_cast<size_t>(i)].data(), 1);
        ASSERT_TRUE(alone);
        EXPECT_EQ(alone.value()[0], got.value()[static_cast<size_t>(i)]) << "state " << i << ": batch == alone, bit for bit";
      }
    }
}

TEST(EnergyHead, BadHeadsAreClearErrors) {
  test::TempDir tmp;
  EnergyHeadConfig c;
  c.input_dim = 8;
  c.hidden = {4};
  ASSERT_TRUE(write_random_energy_head(tmp.path(), c, 1));
  auto head = EnergyHead::load(tmp.path());
  ASSERT_TRUE(head);
  auto wrong = head.value()->energies({std::vector<float>(7, 0.0f)});
  ASSERT_FALSE(wrong);
  EXPECT_NE(std::string(wrong.error().what()).find("has 7 values, the head takes 8"), std::string::npos);
  test::write_file(tmp.file("head.json"), R"({"format": "wick-energy-head", "input_dim": 8, "hidden": [5]})");
  auto shape = EnergyHead::load(tmp.path());
  ASSERT_FALSE(shape);
  EXPECT_NE(std::string(shape.error().what()).find("layers.0.weight' has shape [4, 8], expected [5, 8]"), std::string::npos)
      << shape.error().what();
  test::write_file(tmp.file("head.json"), R"({"format": "wick-energy-head", "input_dim": 8, "hidden": [4], "activation": "tanh"})");
  EXPECT_NE(std::string(EnergyHead::load(tmp.path()).error().what()).find("unknown activation 'tanh'"), std::string::npos);
  test::write_file(tmp.file("head.json"), R"({"input_dim": 8})");
  EXPECT_FALSE(EnergyHead::load(tmp.path()));
  EXPECT_FALSE(EnergyHead::load(tmp.file("missing")));
}

TEST(EnergyHead, ChecksTheModelItReads) {
  WICK_REQUIRE_TESTDATA();
  auto model = Model::load(test::testdata_dir() + "/models/tinystories-656k").value();  // F32, hidden 128
  test::TempDir tmp;
  EnergyHeadConfig c;
  c.input_dim = 128;
  c.embedding_dtype = "bfloat16";
  ASSERT_TRUE(write_random_energy_head(tmp.file("a"), c, 1));
  auto head = EnergyHead::load(tmp.file("a")).value();
  EXPECT_TRUE(head->check_model(*model));
  const std::string w = head->dtype_warning(*model);
  EXPECT_NE(w.find("trained on embeddings of a BF16 model, this model's weights are F32"), std::string::npos) << w;
  c.embedding_dtype = "float32";
  ASSERT_TRUE(write_random_energy_head(tmp.file("b"), c, 1));
  EXPECT_EQ(EnergyHead::load(tmp.file("b")).value()->dtype_warning(*model), "") << "same dtype: no warning";
  c.input_dim = 64;
  ASSERT_TRUE(write_random_energy_head(tmp.file("c"), c, 1));
  auto narrow = EnergyHead::load(tmp.file("c")).value();
  EXPECT_FALSE(narrow->check_model(*model));
}

}  // namespace
}  // namespace wick
