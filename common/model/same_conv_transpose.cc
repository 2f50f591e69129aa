// SameConvTranspose2d's formulations and the PhaseMax autograd functions
// (same_conv_transpose.h). The phase kernels are templates over the element
// type and stay in this one translation unit with the autograd functions
// that call them, so they inline as before the split; they are the seed
// model's hot loops (docs/training.md).
#include "common/model/same_conv_transpose.h"

#include <ATen/OpMathType.h>

#include <algorithm>
#include <array>
#include <string>
#include <type_traits>
#include <vector>

#include "common/model/phase_max_avx512.h"

namespace latentsearch::model {

using torch::Tensor;

SameConvTranspose2dImpl::SameConvTranspose2dImpl(int64_t in, int64_t out)
    : in_channels(in), out_channels(out) {
  weight = register_parameter("weight", torch::empty({in, out, 3, 3}));
  bias = register_parameter("bias", torch::zeros({out}));
}

Tensor SameConvTranspose2dImpl::PhaseKernels() {
  // Along one axis the transposed convolution gives out[2a] = x[a]·w[0] +
  // x[a−1]·w[2] and out[2a+1] = x[a]·w[1]. With x padded by one at the
  // start, tap 0 of a 2-tap kernel reads x[a−1] and tap 1 reads x[a]: phase
  // 0 has taps {w[2], w[0]}, phase 1 {0, w[1]}. kTap[2r + t] is the kernel
  // index of tap t of phase r (−1 = zero).
  static constexpr int kTap[4] = {2, 0, -1, 1};
  if (!select_.defined() || select_.device() != weight.device()) {
    Tensor m = torch::zeros({9, 16});
    for (int a = 0; a < 4; ++a) {
      for (int b = 0; b < 4; ++b) {
        if (kTap[a] >= 0 && kTap[b] >= 0) m[kTap[a] * 3 + kTap[b]][a * 4 + b] = 1.0f;
      }
    }
    select_ = m.to(weight.device());
  }
  return weight.reshape({in_channels * out_channels, 9})
      .mm(select_.to(weight.scalar_type()))
      .view({in_channels, out_channels, 2, 2, 2, 2});
}

std::vector<Tensor> SameConvTranspose2dImpl::SplitKernels() {
  // Phase r along an axis uses kernel rows {2, 0} (r = 0) or {1} (r = 1).
  static const std::vector<int> kRows[2] = {{2, 0}, {1}};
  if (split_select_.empty() || split_select_[0].device() != weight.device()) {
    split_select_.clear();
    for (int r = 0; r < 2; ++r) {
      for (int s = 0; s < 2; ++s) {
        const auto& rows = kRows[r];
        const auto& cols = kRows[s];
        Tensor m = torch::zeros({9, static_cast<int64_t>(rows.size() * cols.size())});
        for (size_t i = 0; i < rows.size(); ++i) {
          for (size_t j = 0; j < cols.size(); ++j) {
            m[rows[i] * 3 + cols[j]][i * cols.size() + j] = 1.0f;
          }
        }
        split_select_.push_back(m.to(weight.device()));
      }
    }
  }
  const Tensor w = weight.reshape({in_channels * out_channels, 9});
  std::vector<Tensor> kernels;
  for (int p = 0; p < 4; ++p) {
    const int64_t kh = p / 2 == 0 ? 2 : 1, kw = p % 2 == 0 ? 2 : 1;
    kernels.push_back(w.mm(split_select_[p].to(weight.scalar_type()))
                          .view({in_channels, out_channels, kh, kw})
                          .transpose(0, 1)
                          .contiguous());
  }
  return kernels;
}

Tensor SameConvTranspose2dImpl::PhaseConv(const Tensor& x, bool phase_major, bool pad_copy) {
  // pad_copy: pad one row/column at the top/left and get H × W outputs;
  // else let the convolution pad symmetrically and return (H+1) × (W+1)
  // outputs of which the top-left H × W are the phases (no input copy).
  Tensor xp = pad_copy ? torch::constant_pad_nd(x, {1, 0, 1, 0}) : x;
  if (channels_last) xp = xp.contiguous(torch::MemoryFormat::ChannelsLast);
  // [Cin, Cout, r, t, s, u] → [phase, Cout] or [Cout, phase] × [Cin, t, u].
  Tensor k = PhaseKernels()
                 .permute(phase_major ? std::vector<int64_t>{2, 4, 1, 0, 3, 5}
                                      : std::vector<int64_t>{1, 2, 4, 0, 3, 5})
                 .reshape({out_channels * 4, in_channels, 2, 2});
  Tensor b =
      phase_major ? bias.repeat({4}) : bias.unsqueeze(1).expand({out_channels, 4}).reshape({-1});
  if (pad_copy) return torch::conv2d(xp, k, b);
  using Pad = std::vector<int64_t>;
  return torch::conv2d(xp, k, b, Pad{1, 1}, Pad{1, 1});
}

namespace {

// The four exact phase convolutions (2×2, 2×1, 1×2, 1×1 kernels) in phase
// order (0,0), (0,1), (1,0), (1,1), without padding copies: PyTorch pads
// symmetrically, so (0,0) is computed (H+1) × (W+1), (0,1) (H+1) × W and
// (1,0) H × (W+1); the top-left H × W of each is the phase. Callers take
// that region (Region()) or let PhaseMax4 read it in place.
std::vector<Tensor> SplitPhases(const Tensor& x_in, const std::vector<Tensor>& kernels,
                                const Tensor& bias, bool channels_last) {
  const Tensor x = channels_last ? x_in.contiguous(torch::MemoryFormat::ChannelsLast) : x_in;
  using Pad = std::vector<int64_t>;
  const Pad one = {1, 1};
  return {torch::conv2d(x, kernels[0], bias, one, Pad{1, 1}),
          torch::conv2d(x, kernels[1], bias, one, Pad{1, 0}),
          torch::conv2d(x, kernels[2], bias, one, Pad{0, 1}), torch::conv2d(x, kernels[3], bias)};
}

Tensor Region(const Tensor& t, int64_t h, int64_t w) { return t.narrow(2, 0, h).narrow(3, 0, w); }

// One channels-last output row of w pixels (channels contiguous in every
// input, pixel stride step[p]); the scalar twin of PhaseMax4RowAvx512.
template <typename T>
void Max4RowCl(const T* const y[4], const int64_t step[4], int64_t w, int64_t c, T* out,
               uint8_t* arg) {
  using acc = at::opmath_type<T>;  // float for bf16, else T itself.
  for (int64_t col = 0; col < w; ++col) {
    const T* yp[4];
    for (int p = 0; p < 4; ++p) yp[p] = y[p] + col * step[p];
    T* op = out + col * c;
    uint8_t* ap = arg + col * c;
    for (int64_t ch = 0; ch < c; ++ch) {
      acc m = static_cast<acc>(yp[0][ch]);
      uint8_t a = 0;
      for (int p = 1; p < 4; ++p) {
        const acc v = static_cast<acc>(yp[p][ch]);
        a = v > m ? static_cast<uint8_t>(p) : a;
        m = v > m ? v : m;
      }
      op[ch] = static_cast<T>(m);
      ap[ch] = a;
    }
  }
}

// The backward of one channels-last row; the scalar twin of
// PhaseMax4GradRowAvx512 (pixels w .. width[p]-1 of phase p get zeros).
template <typename T>
void Max4GradRowCl(const T* g, const uint8_t* arg, int64_t w, int64_t c, T* const gy[4],
                   const int64_t step[4], const int64_t width[4]) {
  const T zero = static_cast<T>(0);
  for (int64_t col = 0; col < w; ++col) {
    const T* __restrict src = g + col * c;
    const uint8_t* __restrict as = arg + col * c;
    for (int p = 0; p < 4; ++p) {
      T* __restrict dst = gy[p] + col * step[p];
      for (int64_t ch = 0; ch < c; ++ch) dst[ch] = as[ch] == p ? src[ch] : zero;
    }
  }
  for (int p = 0; p < 4; ++p) {
    for (int64_t col = w; col < width[p]; ++col) std::fill_n(gy[p] + col * step[p], c, zero);
  }
}

// PhaseMax's kernels: `four` is N × 4C × S (contiguous) or N × S × 4C
// (channels-last, `cl`), phase-major channels; `out`/`arg` N × C × S or
// N × S × C.
// Channels-last pixels go through the same row kernels as PhaseMax4's.
template <typename T>
void PhaseMaxForward(const T* y, T* out, uint8_t* arg, int64_t n, int64_t c, int64_t s, bool cl) {
  using acc = at::opmath_type<T>;  // float for bf16, else T itself.
  if (cl) {
    // Pixels [begin, end) as one "row": phase p at channel offset p·c,
    // pixels 4c apart.
    const bool avx512 = std::is_same_v<T, float> && internal::PhaseMaxAvx512Available();
    at::parallel_for(0, n * s, 64, [&](int64_t begin, int64_t end) {
      const T* yp[4];
      const int64_t step[4] = {4 * c, 4 * c, 4 * c, 4 * c};
      for (int p = 0; p < 4; ++p) yp[p] = y + begin * 4 * c + p * c;
      if constexpr (std::is_same_v<T, float>) {
        if (avx512) {
          internal::PhaseMax4RowAvx512(yp, step, end - begin, c, out + begin * c, arg + begin * c);
          return;
        }
      }
      Max4RowCl<T>(yp, step, end - begin, c, out + begin * c, arg + begin * c);
    });
    return;
  }
  at::parallel_for(0, n * c, 1, [&](int64_t begin, int64_t end) {
    for (int64_t nc = begin; nc < end; ++nc) {
      const int64_t img = nc / c, ch = nc % c;
      const T* y0 = y + (img * 4 * c + ch) * s;
      T* op = out + nc * s;
      uint8_t* ap = arg + nc * s;
      for (int64_t j = 0; j < s; ++j) {
        acc m = static_cast<acc>(y0[j]);
        uint8_t a = 0;
        for (int p = 1; p < 4; ++p) {
          const acc v = static_cast<acc>(y0[p * c * s + j]);
          if (v > m) {
            m = v;
            a = static_cast<uint8_t>(p);
          }
        }
        op[j] = static_cast<T>(m);
        ap[j] = a;
      }
    }
  });
}

template <typename T>
void PhaseMaxBackward(const T* g, const uint8_t* arg, T* gy, int64_t n, int64_t c, int64_t s,
                      bool cl) {
  if (cl) {
    const bool avx512 = std::is_same_v<T, float> && internal::PhaseMaxAvx512Available();
    at::parallel_for(0, n * s, 64, [&](int64_t begin, int64_t end) {
      T* yp[4];
      const int64_t step[4] = {4 * c, 4 * c, 4 * c, 4 * c};
      const int64_t width[4] = {end - begin, end - begin, end - begin, end - begin};
      for (int p = 0; p < 4; ++p) yp[p] = gy + begin * 4 * c + p * c;
      if constexpr (std::is_same_v<T, float>) {
        if (avx512) {
          internal::PhaseMax4GradRowAvx512(g + begin * c, arg + begin * c, end - begin, c, yp, step,
                                           width);
          return;
        }
      }
      Max4GradRowCl<T>(g + begin * c, arg + begin * c, end - begin, c, yp, step, width);
    });
    return;
  }
  at::parallel_for(0, n * c, 1, [&](int64_t begin, int64_t end) {
    for (int64_t nc = begin; nc < end; ++nc) {
      const int64_t img = nc / c, ch = nc % c;
      const T* gp = g + nc * s;
      const uint8_t* ap = arg + nc * s;
      for (int p = 0; p < 4; ++p) {
        T* yp = gy + ((img * 4 + p) * c + ch) * s;
        for (int64_t j = 0; j < s; ++j) yp[j] = ap[j] == p ? gp[j] : static_cast<T>(0);
      }
    }
  });
}

class PhaseMaxFn : public torch::autograd::Function<PhaseMaxFn> {
 public:
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& y_in) {
    const bool cl = IsChannelsLast(y_in);
    const Tensor y = cl ? y_in : y_in.contiguous();
    const int64_t n = y.size(0), c = y.size(1) / 4, h = y.size(2), w = y.size(3);
    const auto fmt = cl ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
    Tensor out = torch::empty({n, c, h, w}, y.options().memory_format(fmt));
    Tensor arg = torch::empty({n, c, h, w}, y.options().dtype(torch::kUInt8).memory_format(fmt));
    AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, y.scalar_type(), "PhaseMax", [&] {
      PhaseMaxForward<scalar_t>(y.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(),
                                arg.data_ptr<uint8_t>(), n, c, h * w, cl);
    });
    ctx->save_for_backward({arg});
    ctx->saved_data["cl"] = cl;
    ctx->mark_non_differentiable({arg});
    return out;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const Tensor arg = ctx->get_saved_variables()[0];
    const bool cl = ctx->saved_data["cl"].toBool();
    const auto fmt = cl ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
    const Tensor g = grads[0].contiguous(fmt);
    const int64_t n = arg.size(0), c = arg.size(1), h = arg.size(2), w = arg.size(3);
    Tensor gy = torch::empty({n, 4 * c, h, w}, g.options().memory_format(fmt));
    AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, g.scalar_type(), "PhaseMaxBackward", [&] {
      PhaseMaxBackward<scalar_t>(g.data_ptr<scalar_t>(), arg.data_ptr<uint8_t>(),
                                 gy.data_ptr<scalar_t>(), n, c, h * w, cl);
    });
    return {gy};
  }
};

// PhaseMax4's kernels over four separately computed phases, each read (and
// its gradient written) in place through its strides; only the top-left
// h × w of each is used (gradients of the extra row/column are zero).
// rows/cols: each phase's full height and width (≥ h, ≥ w).
struct Strided4 {
  int64_t sn[4], sc[4], sh[4], sw[4];
  int64_t rows[4], cols[4];
};

template <typename T>
void PhaseMax4Forward(const std::array<const T*, 4>& y, const Strided4& st, T* out, uint8_t* arg,
                      int64_t n, int64_t c, int64_t h, int64_t w, bool cl) {
  using acc = at::opmath_type<T>;
  const bool avx512 = std::is_same_v<T, float> && internal::PhaseMaxAvx512Available();
  // Output and argmax are laid out like the inputs (cl: N, H, W, C).
  at::parallel_for(0, n * h, 1, [&](int64_t begin, int64_t end) {
    for (int64_t nh = begin; nh < end; ++nh) {
      const int64_t img = nh / h, row = nh % h;
      const T* yp[4];
      for (int p = 0; p < 4; ++p) yp[p] = y[p] + img * st.sn[p] + row * st.sh[p];
      if (cl) {  // Channels contiguous in every input (stride 1).
        T* op = out + nh * w * c;
        uint8_t* ap = arg + nh * w * c;
        if constexpr (std::is_same_v<T, float>) {
          if (avx512) {
            internal::PhaseMax4RowAvx512(yp, st.sw, w, c, op, ap);
            continue;
          }
        }
        Max4RowCl<T>(yp, st.sw, w, c, op, ap);
        continue;
      }
      for (int64_t col = 0; col < w; ++col) {
        for (int64_t ch = 0; ch < c; ++ch) {
          const int64_t o = ((img * c + ch) * h + row) * w + col;
          acc m = static_cast<acc>(yp[0][col * st.sw[0] + ch * st.sc[0]]);
          uint8_t a = 0;
          for (int p = 1; p < 4; ++p) {
            const acc v = static_cast<acc>(yp[p][col * st.sw[p] + ch * st.sc[p]]);
            if (v > m) {
              m = v;
              a = static_cast<uint8_t>(p);
            }
          }
          out[o] = static_cast<T>(m);
          arg[o] = a;
        }
      }
    }
  });
}

// gy[p]: phase p's gradient, rows[p] × cols[p]. Channels-last gradients are
// written whole, their extra row and column zeroed here; contiguous ones
// must have them zeroed by the caller.
template <typename T>
void PhaseMax4Backward(const T* g, const uint8_t* arg, const std::array<T*, 4>& gy,
                       const Strided4& st, int64_t n, int64_t c, int64_t h, int64_t w, bool cl) {
  const bool avx512 = std::is_same_v<T, float> && internal::PhaseMaxAvx512Available();
  at::parallel_for(0, n * h, 1, [&](int64_t begin, int64_t end) {
    for (int64_t nh = begin; nh < end; ++nh) {
      const int64_t img = nh / h, row = nh % h;
      T* yp[4];
      for (int p = 0; p < 4; ++p) yp[p] = gy[p] + img * st.sn[p] + row * st.sh[p];
      if (cl) {
        const T* gp = g + nh * w * c;
        const uint8_t* ap = arg + nh * w * c;
        bool done = false;
        if constexpr (std::is_same_v<T, float>) {
          if (avx512) {
            internal::PhaseMax4GradRowAvx512(gp, ap, w, c, yp, st.sw, st.cols);
            done = true;
          }
        }
        if (!done) Max4GradRowCl<T>(gp, ap, w, c, yp, st.sw, st.cols);
        // The extra rows below the last one: whole rows, contiguous.
        for (int p = 0; row == h - 1 && p < 4; ++p) {
          for (int64_t r = h; r < st.rows[p]; ++r) {
            std::fill_n(gy[p] + img * st.sn[p] + r * st.sh[p], st.cols[p] * c, static_cast<T>(0));
          }
        }
        continue;
      }
      for (int64_t col = 0; col < w; ++col) {
        for (int64_t ch = 0; ch < c; ++ch) {
          const int64_t o = ((img * c + ch) * h + row) * w + col;
          for (int p = 0; p < 4; ++p) {
            yp[p][col * st.sw[p] + ch * st.sc[p]] = arg[o] == p ? g[o] : static_cast<T>(0);
          }
        }
      }
    }
  });
}

class PhaseMax4Fn : public torch::autograd::Function<PhaseMax4Fn> {
 public:
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& y0, const Tensor& y1,
                        const Tensor& y2, const Tensor& y3, int64_t h, int64_t w) {
    const std::array<Tensor, 4> y = {y0, y1, y2, y3};
    const bool cl = IsChannelsLast(y0);
    const int64_t n = y0.size(0), c = y0.size(1);
    const auto fmt = cl ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
    Tensor out = torch::empty({n, c, h, w}, y0.options().memory_format(fmt));
    Tensor arg = torch::empty({n, c, h, w}, y0.options().dtype(torch::kUInt8).memory_format(fmt));
    Strided4 st;
    for (int p = 0; p < 4; ++p) {
      st.sn[p] = y[p].stride(0);
      st.sc[p] = y[p].stride(1);
      st.sh[p] = y[p].stride(2);
      st.sw[p] = y[p].stride(3);
      st.rows[p] = y[p].size(2);
      st.cols[p] = y[p].size(3);
    }
    AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, y0.scalar_type(), "PhaseMax4", [&] {
      PhaseMax4Forward<scalar_t>({y[0].data_ptr<scalar_t>(), y[1].data_ptr<scalar_t>(),
                                  y[2].data_ptr<scalar_t>(), y[3].data_ptr<scalar_t>()},
                                 st, out.data_ptr<scalar_t>(), arg.data_ptr<uint8_t>(), n, c, h, w,
                                 cl);
    });
    ctx->save_for_backward({arg});
    ctx->saved_data["cl"] = cl;
    for (int p = 0; p < 4; ++p) {
      ctx->saved_data["h" + std::to_string(p)] = y[p].size(2);
      ctx->saved_data["w" + std::to_string(p)] = y[p].size(3);
    }
    ctx->mark_non_differentiable({arg});
    return out;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const Tensor arg = ctx->get_saved_variables()[0];
    const bool cl = ctx->saved_data["cl"].toBool();
    const auto fmt = cl ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
    const Tensor g = grads[0].contiguous(fmt);
    const int64_t n = arg.size(0), c = arg.size(1), h = arg.size(2), w = arg.size(3);
    torch::autograd::tensor_list out(6);
    Strided4 st;
    for (int p = 0; p < 4; ++p) {
      const int64_t hp = ctx->saved_data["h" + std::to_string(p)].toInt();
      const int64_t wp = ctx->saved_data["w" + std::to_string(p)].toInt();
      Tensor full = torch::empty({n, c, hp, wp}, g.options().memory_format(fmt));
      if (!cl && hp > h) full.narrow(2, h, hp - h).zero_();
      if (!cl && wp > w) full.narrow(3, w, wp - w).zero_();
      st.rows[p] = hp;
      st.cols[p] = wp;
      st.sn[p] = full.stride(0);
      st.sc[p] = full.stride(1);
      st.sh[p] = full.stride(2);
      st.sw[p] = full.stride(3);
      out[p] = full;
    }
    AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, g.scalar_type(), "PhaseMax4Backward", [&] {
      PhaseMax4Backward<scalar_t>(g.data_ptr<scalar_t>(), arg.data_ptr<uint8_t>(),
                                  {out[0].data_ptr<scalar_t>(), out[1].data_ptr<scalar_t>(),
                                   out[2].data_ptr<scalar_t>(), out[3].data_ptr<scalar_t>()},
                                  st, n, c, h, w, cl);
    });
    return out;
  }
};

// PhaseShuffle's kernels, on channels-last maps of any element type moved
// as same-sized unsigned integers (pure data movement, bit-exact). Phases:
// N × (H'·W') × 4C with output (2a + r, 2b + s) of channel c at pixel (a, b),
// channel 4c + 2r + s; out: N × (2h·2w) × C. One call per phase row a of
// image i: output rows 2a and 2a + 1 (pixels 2b and 2b + 1 of row 2a + r
// take channels 4c + 2r and 4c + 2r + 1).
struct ShuffleShape {
  int64_t c, h, w, hp, wp;  // hp × wp: the phase map, ≥ h × w.
};

template <typename U>
void ShuffleRow(const U* phases, U* out, const ShuffleShape& sh, int64_t i, int64_t a) {
  const int64_t c = sh.c;
  for (int r = 0; r < 2; ++r) {
    const U* src = phases + (i * sh.hp + a) * sh.wp * 4 * c + 2 * r;
    U* dst = out + (i * 2 * sh.h + 2 * a + r) * 2 * sh.w * c;
    for (int64_t b = 0; b < sh.w; ++b) {
      const U* __restrict sp = src + b * 4 * c;
      U* __restrict d0 = dst + b * 2 * c;
      U* __restrict d1 = d0 + c;
      for (int64_t ch = 0; ch < c; ++ch) {
        d0[ch] = sp[4 * ch];
        d1[ch] = sp[4 * ch + 1];
      }
    }
  }
}

// The adjoint: phase row a of image i from output rows 2a, 2a + 1; the
// phase map's pixels b ≥ w (and, after the last row, rows ≥ h) get zeros.
template <typename U>
void UnshuffleRow(const U* g, U* phases, const ShuffleShape& sh, int64_t i, int64_t a) {
  const int64_t c = sh.c;
  U* row = phases + (i * sh.hp + a) * sh.wp * 4 * c;
  for (int r = 0; r < 2; ++r) {
    const U* src = g + (i * 2 * sh.h + 2 * a + r) * 2 * sh.w * c;
    for (int64_t b = 0; b < sh.w; ++b) {
      const U* __restrict s0 = src + b * 2 * c;
      const U* __restrict s1 = s0 + c;
      U* __restrict dp = row + b * 4 * c + 2 * r;
      for (int64_t ch = 0; ch < c; ++ch) {
        dp[4 * ch] = s0[ch];
        dp[4 * ch + 1] = s1[ch];
      }
    }
  }
  std::fill(row + sh.w * 4 * c, row + sh.wp * 4 * c, U{0});
  if (a == sh.h - 1) {
    std::fill(row + sh.wp * 4 * c, phases + (i + 1) * sh.hp * sh.wp * 4 * c, U{0});
  }
}

// Runs fn.template operator()<U>() with U the unsigned integer of `t`'s
// element size (2, 4 or 8 bytes).
template <typename Fn>
void WithElementBits(const Tensor& t, Fn&& fn) {
  switch (t.element_size()) {
    case 2:
      return fn(uint16_t{});
    case 4:
      return fn(uint32_t{});
    case 8:
      return fn(uint64_t{});
    default:
      TORCH_CHECK(false, "PhaseShuffle: unsupported element size ", t.element_size());
  }
}

// phases (N × 4C × H' × W', pixel-shuffle channel order, any layout) →
// the top-left h × w phases interleaved, N × C × 2h × 2w channels-last.
class PhaseShuffleFn : public torch::autograd::Function<PhaseShuffleFn> {
 public:
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& y_in, int64_t h,
                        int64_t w) {
    const Tensor y = y_in.contiguous(torch::MemoryFormat::ChannelsLast);
    const int64_t n = y.size(0);
    const ShuffleShape sh{y.size(1) / 4, h, w, y.size(2), y.size(3)};
    Tensor out = torch::empty({n, sh.c, 2 * h, 2 * w},
                              y.options().memory_format(torch::MemoryFormat::ChannelsLast));
    WithElementBits(y, [&](auto zero) {
      using U = decltype(zero);
      const U* src = static_cast<const U*>(y.data_ptr());
      U* dst = static_cast<U*>(out.data_ptr());
      at::parallel_for(0, n * h, 1, [&](int64_t begin, int64_t end) {
        for (int64_t ia = begin; ia < end; ++ia) ShuffleRow(src, dst, sh, ia / h, ia % h);
      });
    });
    ctx->saved_data["hp"] = sh.hp;
    ctx->saved_data["wp"] = sh.wp;
    return out;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const Tensor g = grads[0].contiguous(torch::MemoryFormat::ChannelsLast);
    const int64_t n = g.size(0);
    const ShuffleShape sh{g.size(1), g.size(2) / 2, g.size(3) / 2, ctx->saved_data["hp"].toInt(),
                          ctx->saved_data["wp"].toInt()};
    Tensor gy = torch::empty({n, 4 * sh.c, sh.hp, sh.wp},
                             g.options().memory_format(torch::MemoryFormat::ChannelsLast));
    WithElementBits(g, [&](auto zero) {
      using U = decltype(zero);
      const U* src = static_cast<const U*>(g.data_ptr());
      U* dst = static_cast<U*>(gy.data_ptr());
      at::parallel_for(0, n * sh.h, 1, [&](int64_t begin, int64_t end) {
        for (int64_t ia = begin; ia < end; ++ia) UnshuffleRow(src, dst, sh, ia / sh.h, ia % sh.h);
      });
    });
    return {gy, Tensor(), Tensor()};
  }
};

}  // namespace

Tensor PhaseShuffle(const Tensor& phases, int64_t h, int64_t w) {
  return PhaseShuffleFn::apply(phases, h, w);
}

Tensor PhaseMax(const Tensor& y) { return PhaseMaxFn::apply(y); }

Tensor PhaseMax4(const std::vector<Tensor>& phases, int64_t h, int64_t w) {
  return PhaseMax4Fn::apply(phases[0], phases[1], phases[2], phases[3], h, w);
}

Tensor SameConvTranspose2dImpl::Upsample(const Tensor& x, Formulation f) {
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  if (f == Formulation::kPlain) {
    Tensor y = torch::conv_transpose2d(x, weight, bias, /*stride=*/2);
    return y.narrow(2, 0, 2 * h).narrow(3, 0, 2 * w);
  }
  // Channel c·4 + 2r + s → output (c, 2a + r, 2b + s).
  Tensor phases;
  if (f == Formulation::kPhaseSplit) {
    std::vector<Tensor> p = SplitPhases(x, SplitKernels(), bias, channels_last);
    for (Tensor& t : p) t = Region(t, h, w);
    phases = torch::stack(p, 2).reshape({n, out_channels * 4, h, w});
  } else if (channels_last) {
    return PhaseShuffle(PhaseConv(x, /*phase_major=*/false, /*pad_copy=*/false), h, w);
  } else {
    phases = Region(PhaseConv(x, /*phase_major=*/false, /*pad_copy=*/false), h, w);
  }
  return torch::pixel_shuffle(phases, 2);
}

Tensor SameConvTranspose2dImpl::UpsampleMaxPool(const Tensor& x, Formulation f) {
  if (f == Formulation::kPlain) return torch::max_pool2d(Upsample(x, f), 2);
  if (f == Formulation::kPhaseSplit) {
    return PhaseMax4(SplitPhases(x, SplitKernels(), bias, channels_last), x.size(2), x.size(3));
  }
  return PhaseMax(PhaseConv(x, /*phase_major=*/true));
}

}  // namespace latentsearch::model
