// The "same" k3 s2 transposed convolution of the seed and conv
// architectures (Keras alignment) and its fast formulations: the phase
// kernels that rewrite it as ordinary convolutions (kPhaseConv,
// kPhaseSplit) and the PhaseMax autograd functions that fuse the seed
// encoder's MaxPool2d 2 into the phases. LibTorch side: include only from
// .cc files (see torch_model.h, which includes this header).
//
// Thread-safety: a module is not thread-safe (its phase-kernel selection
// matrices are built lazily); PhaseMax, PhaseMax4 and PhaseShuffle are
// thread-safe.
#ifndef LATENTSEARCH_COMMON_MODEL_SAME_CONV_TRANSPOSE_H_
#define LATENTSEARCH_COMMON_MODEL_SAME_CONV_TRANSPOSE_H_

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "common/model/model_spec.h"

namespace latentsearch::model {

// ConvTranspose2d(kernel 3, stride 2) with Keras padding="same" alignment:
// the output is exactly 2H × 2W and equals PyTorch's padding-0 result with
// its last row and column cropped (TF pads the forward convolution at the
// bottom/right only, so the adjoint drops the bottom/right extra). PyTorch's
// padding=1, output_padding=1 gives the same size but is shifted by one.
// Parameters as torch::nn::ConvTranspose2d: weight Cin × Cout × 3 × 3, bias.
class SameConvTranspose2dImpl : public torch::nn::Module {
 public:
  SameConvTranspose2dImpl(int64_t in_channels, int64_t out_channels);

  // N × Cin × H × W → N × Cout × 2H × 2W.
  torch::Tensor Upsample(const torch::Tensor& x, Formulation f);
  // MaxPool2d(2) of Upsample(x): N × Cout × H × W (before any activation;
  // ELU commutes with max because it is increasing). kPhaseConv never
  // builds the 2H × 2W map: it takes the maximum over the four phase
  // outputs with PhaseMax.
  torch::Tensor UpsampleMaxPool(const torch::Tensor& x, Formulation f);

  // The transposed convolution as one Conv2d with 2×2 kernels on x padded
  // at the top and left: N × 4·Cout × H × W holding output[2a + r][2b + s]
  // of channel c at channel c·4 + 2r + s (pixel-shuffle order) or, with
  // phase_major, at (2r + s)·Cout + c.
  // With pad_copy false the input is not copied: the convolution pads
  // symmetrically and the phases are the top-left H × W of an
  // (H+1) × (W+1) result.
  torch::Tensor PhaseConv(const torch::Tensor& x, bool phase_major, bool pad_copy = true);

  int64_t in_channels, out_channels;
  // Run the convolutions on channels-last (NHWC) tensors (oneDNN's
  // preferred layout on CPU). Same function.
  bool channels_last = false;
  torch::Tensor weight, bias;

 private:
  // Kernel Cin×Cout×3×3 → the 2×2 phase kernels, as a product with a fixed
  // 9 × 16 0/1 matrix (differentiable, cheap backward).
  torch::Tensor PhaseKernels();  // Cin × Cout × 2(r) × 2(t) × 2(s) × 2(u)
  torch::Tensor select_;         // The 9 × 16 matrix, on weight's device.

 public:
  // The four exact phase kernels Cout × Cin × kh × kw (2×2, 2×1, 1×2, 1×1),
  // each a product with a fixed 0/1 matrix (kPhaseSplit).
  std::vector<torch::Tensor> SplitKernels();

 private:
  std::vector<torch::Tensor> split_select_;
};
TORCH_MODULE(SameConvTranspose2d);

// y: N × 4C × H × W with phase p of channel c at channel p·C + c →
// N × C × H × W, the maximum over the four phases (MaxPool2d 2 of the
// upsampled map). Keeps y's memory format (contiguous or channels-last);
// the backward writes each gradient to its phase's argmax.
torch::Tensor PhaseMax(const torch::Tensor& y);

// The same over four separately computed phases (kPhaseSplit), phase p in
// phases[p], each N × C × (≥ h) × (≥ w): the top-left h × w is used, read in
// place through its strides.
torch::Tensor PhaseMax4(const std::vector<torch::Tensor>& phases, int64_t h, int64_t w);

// phases: N × 4C × (≥ h) × (≥ w) holding output (2a + r, 2b + s) of channel
// c at channel 4c + 2r + s (PhaseConv's pixel-shuffle order), in any layout.
// Returns pixel_shuffle(2) of its top-left h × w, N × C × 2h × 2w, as a
// channels-last tensor, in one pass each way (no contiguous copies; the
// gradient comes back channels-last, zero outside the h × w region).
// Bit-exact: it only moves elements.
torch::Tensor PhaseShuffle(const torch::Tensor& phases, int64_t h, int64_t w);

// A 4-D tensor laid out N, H, W, C (and not also plain contiguous).
inline bool IsChannelsLast(const torch::Tensor& t) {
  return t.dim() == 4 && !t.is_contiguous() && t.is_contiguous(torch::MemoryFormat::ChannelsLast);
}

}  // namespace latentsearch::model

#endif  // LATENTSEARCH_COMMON_MODEL_SAME_CONV_TRANSPOSE_H_
