// bf16 autocast (common/model/autocast.h) and the seed path (#13):
// ConvTranspose2d is not autocast, but the phase formulations compute the
// seed's transposed convolutions as Conv2d, so they run in bf16 under the
// scope; and the scope ends cleanly (nested, thread-local).
#include "common/model/autocast.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <thread>

#include "common/model/model.h"
#include "common/model/same_conv_transpose.h"
#include "common/model/torch_model.h"
#include "common/testing/status_matchers.h"
#include "gtest/gtest.h"

namespace latentsearch::model {
namespace {

TEST(AutocastTest, SeedPhaseFormulationsRunInBf16AndPlainDoesNot) {
  torch::manual_seed(3);
  SameConvTranspose2d ct(8, 16);
  {
    torch::NoGradGuard g;
    ct->weight.normal_(0, 0.1);
  }
  torch::Tensor x = torch::randn({2, 8, 8, 8});
  torch::NoGradGuard g;
  for (Formulation f : {Formulation::kPhaseConv, Formulation::kPhaseSplit}) {
    AutocastScope scope(true, false);
    EXPECT_EQ(ct->UpsampleMaxPool(x, f).scalar_type(), torch::kBFloat16) << FormulationName(f);
    EXPECT_EQ(ct->Upsample(x, f).scalar_type(), torch::kBFloat16) << FormulationName(f);
  }
  {
    AutocastScope scope(true, false);
    // slow_conv_transpose2d: not on autocast's list, stays float32.
    EXPECT_EQ(ct->Upsample(x, Formulation::kPlain).scalar_type(), torch::kFloat);
  }
  // Without the scope everything is float32.
  EXPECT_EQ(ct->UpsampleMaxPool(x, Formulation::kPhaseSplit).scalar_type(), torch::kFloat);
}

TEST(AutocastTest, SeedEmbeddingsInBf16StayCloseToFp32) {
  ASSERT_OK_AND_ASSIGN(auto m,
                       Model::Create({"seed", 10, {16, 16, 1}}, {Formulation::kPhaseSplit}));
  torch::manual_seed(5);
  torch::Tensor x = torch::rand({4, 1, 16, 16});
  torch::InferenceMode inference;
  torch::Tensor fp32 = m->impl().net->embed(x);
  torch::Tensor bf16;
  {
    AutocastScope scope(true, false);
    bf16 = m->impl().net->embed(x).to(torch::kFloat);
  }
  EXPECT_FALSE(torch::equal(fp32, bf16));  // bf16 really ran.
  torch::Tensor cos = torch::cosine_similarity(fp32, bf16, 1);
  EXPECT_GT(cos.min().item<double>(), 0.99) << cos;
}

TEST(AutocastTest, ScopesNestRestoreAndArePerThread) {
  EXPECT_FALSE(at::autocast::is_cpu_enabled());
  {
    AutocastScope outer(true, false);
    EXPECT_TRUE(at::autocast::is_cpu_enabled());
    bool other_thread = true;
    std::thread t([&] { other_thread = at::autocast::is_cpu_enabled(); });
    t.join();
    EXPECT_FALSE(other_thread);
    {
      AutocastScope inner(true, false);
      AutocastScope off(false, false);  // Does nothing.
      EXPECT_TRUE(at::autocast::is_cpu_enabled());
    }
    EXPECT_TRUE(at::autocast::is_cpu_enabled());
  }
  EXPECT_FALSE(at::autocast::is_cpu_enabled());
}

}  // namespace
}  // namespace latentsearch::model
