#include "models/rope.h"

#include <algorithm>
#include <cmath>

namespace wick {

void fill_default_inv_freq(double base, int dim, float* inv) {
  for (int i = 0; i < dim / 2; ++i) {
    const float e = static_cast<float>(2 * i) / static_cast<float>(dim);
    inv[i] = 1.0f / std::pow(static_cast<float>(base), e);
  }
}

std::vector<float> default_inv_freq(double base, int dim) {
  std::vector<float> inv(static_cast<size_t>(dim / 2));
  fill_default_inv_freq(base, dim, inv.data());
  return inv;
}

namespace {

// _compute_yarn_parameters (YaRN, arXiv:2309.00071): blend interpolated and extrapolated
// frequencies with a linear ramp between the correction dims of beta_fast / beta_slow.
std::vector<float> yarn_inv_freq(const ModelConfig& cfg, float* attention_factor) {
  const RopeScaling& s = cfg.rope;
  const double base = cfg.rope_theta;
  const int dim = cfg.rope_dims();
  // The factor as configured (derived from the two lengths at parse time only when absent); the
  // correction range uses the pretraining length, original_max_position_embeddings when given.
  const double factor = s.factor;
  const int original = s.original_max_position_embeddings > 0 ? s.original_max_position_embeddings : cfg.max_position_embeddings;
  auto get_mscale = [](double scale, double mscale) { return scale <= 1 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; };
  if (s.attention_factor) {
    *attention_factor = static_cast<float>(*s.attention_factor);
  } else if (s.mscale && s.mscale_all_dim && *s.mscale != 0 && *s.mscale_all_dim != 0) {
    *attention_factor = static_cast<float>(get_mscale(factor, *s.mscale) / get_mscale(factor, *s.mscale_all_dim));
  } else {
    *attention_factor = static_cast<float>(get_mscale(factor, 1.0));
  }
  auto correction_dim = [&](double rotations) { return (dim * std::log(original / (rotations * 2 * M_PI))) / (2 * std::log(base)); };
  double low = correction_dim(s.beta_fast), high = correction_dim(s.beta_slow);
  if (s.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high) high += 0.001;
  const auto extrapolation = default_inv_freq(base, dim);
  std::vector<float> inv(extrapolation.size());
  for (size_t i = 0; i < inv.size(); ++i) {
    const float pos_freq = 1.0f / extrapolation[i];
    const float interp = 1.0f / (static_cast<float>(factor) * pos_freq);
    const float ramp = std::clamp(static_cast<float>((static_cast<double>(i) - low) / (high - low)), 0.0f, 1.0f);
    const float extra_factor = 1.0f - ramp;
    inv[i] = interp * (1.0f - extra_factor) + extrapolation[i] * extra_factor;
  }
  return inv;
}

// _compute_llama3_parameters: scale low frequencies by 1/factor, keep high ones, and smooth
// between the two wavelength thresholds.
std::vector<float> llama3_inv_freq(const ModelConfig& cfg) {
  const RopeScaling& s = cfg.rope;
  auto inv = default_inv_freq(cfg.rope_theta, cfg.rope_dims());
  if (!s.freq_factors.empty()) {  // a GGUF file's rope_freqs: llama.cpp divides theta by them
    for (size_t i = 0; i < inv.size(); ++i) inv[i] /= static_cast<float>(s.freq_factors[i]);
    return inv;
  }
  const double old_ctx = s.original_max_position_embeddings;
  const double low_wavelen = old_ctx / s.low_freq_factor;
  const double high_wavelen = old_ctx / s.high_freq_factor;
  for (float& f : inv) {
    const double wavelen = 2 * M_PI / f;
    const float scaled = wavelen > low_wavelen ? static_cast<float>(f / s.factor) : f;
    if (wavelen < high_wavelen || wavelen > low_wavelen) {
      f = scaled;
    } else {
      const float smooth = static_cast<float>((old_ctx / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor));
      f = (1 - smooth) * scaled / static_cast<float>(s.factor) + smooth * scaled;
    }
  }
  return inv;
}

std::vector<float> longrope_inv_freq(const ModelConfig& cfg, const std::vector<double>& ext) {
  auto inv = default_inv_freq(cfg.rope_theta, cfg.rope_dims());
  for (size_t i = 0; i < inv.size(); ++i) {
    const float e = static_cast<float>(2 * i) / static_cast<float>(cfg.rope_dims());
    inv[i] = 1.0f / (static_cast<float>(ext[i]) * std::pow(static_cast<float>(cfg.rope_theta), e));
  }
  return inv;
}

}  // namespace

RotaryEmbedding::RotaryEmbedding(const ModelConfig& cfg) : cfg_(cfg), dim_(cfg.rope_dims()) {
  const RopeScaling& s = cfg.rope;
  switch (s.type) {
    case RopeType::kDefault:
    case RopeType::kDynamic: inv_freq_ = default_inv_freq(cfg.rope_theta, dim_); break;
    case RopeType::kLinear:
      inv_freq_ = default_inv_freq(cfg.rope_theta, dim_);
      for (float& f : inv_freq_) f /= static_cast<float>(s.factor);
      break;
    case RopeType::kYarn: inv_freq_ = yarn_inv_freq(cfg, &attention_factor_); break;
    case RopeType::kLlama3: inv_freq_ = llama3_inv_freq(cfg); break;
    case RopeType::kLongRope: {
      // _compute_longrope_parameters: the factor is max_position / original_max_position when
      // the config has original_max_position_embeddings (Phi-3), else rope_scaling.factor.
      double factor = s.factor;
      longrope_original_ = cfg.max_position_embeddings;
      if (cfg.original_max_position_embeddings > 0) {
        longrope_original_ = cfg.original_max_position_embeddings;
        factor = static_cast<double>(cfg.max_position_embeddings) / longrope_original_;
      }
      if (s.attention_factor)
        attention_factor_ = static_cast<float>(*s.attention_factor);
      else
        attention_factor_ = factor <= 1 ? 1.0f : static_cast<float>(std::sqrt(1 + std::log(factor) / std::log(longrope_original_)));
      inv_freq_ = longrope_inv_freq(cfg, s.short_factor);
      inv_freq_long_ = longrope_inv_freq(cfg, s.long_factor);
      break;
    }
  }
  inv_freq_dyn_ = inv_freq_;
}

const std::vector<float>& RotaryEmbedding::inv_freq_for(int seq_len) {
  if (cfg_.rope.type == RopeType::kLongRope) return seq_len > longrope_original_ ? inv_freq_long_ : inv_freq_;
  if (cfg_.rope.type == RopeType::kDynamic) {
    // _compute_dynamic_ntk_parameters: past max_position_embeddings the base grows with the
    // sequence length (NTK-aware scaling); below it the default frequencies are used.
    const int max_pos = cfg_.max_position_embeddings;
    if (seq_len <= max_pos) return inv_freq_;
    if (seq_len != dyn_seq_len_) {
      const double f = cfg_.rope.factor;
      const double base = cfg_.rope_theta * std::pow(f * seq_len / max_pos - (f - 1), static_cast<double>(dim_) / (dim_ - 2));
      fill_default_inv_freq(base, dim_, inv_freq_dyn_.data());  // in place: no allocation per step
      dyn_seq_len_ = seq_len;
    }
    return inv_freq_dyn_;
  }
  return inv_freq_;
}

void RotaryEmbedding::compute(int pos0, int n, int seq_len, float* cos, float* sin) {
  const auto& inv = inv_freq_for(seq_len);
  const int half = dim_ / 2;
  for (int t = 0; t < n; ++t) {
    const float p = static_cast<float>(pos0 + t);
    for (int i = 0; i < half; ++i) {
      const float theta = p * inv[static_cast<size_t>(i)];  // float32 product, as in transformers
      cos[t * half + i] = static_cast<float>(std::cos(static_cast<double>(theta))) * attention_factor_;
      sin[t * half + i] = static_cast<float>(std::sin(static_cast<double>(theta))) * attention_factor_;
    }
  }
}

}  // namespace wick
