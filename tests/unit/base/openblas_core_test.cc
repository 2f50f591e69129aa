// CoreTypeFor: which OPENBLAS_CORETYPE latentsearch sets when OpenBLAS fell
// back to its generic kernels, and that it leaves every other choice alone.
#include "common/base/openblas_core.h"

#include "gtest/gtest.h"

namespace latentsearch::base {
namespace {

CpuIsa Isa(bool avx2, bool avx512, bool bf16) {
  CpuIsa isa;
  isa.avx2_fma = avx2;
  isa.avx512 = avx512;
  isa.avx512_bf16 = bf16;
  return isa;
}

TEST(OpenBlasCoreTest, PrescottFallbackGetsTheBestKernelsTheFlagsAllow) {
  EXPECT_EQ(CoreTypeFor("Prescott", Isa(true, true, true)), "Cooperlake");
  EXPECT_EQ(CoreTypeFor("Prescott", Isa(true, true, false)), "SkylakeX");
  EXPECT_EQ(CoreTypeFor("Prescott", Isa(true, false, false)), "Haswell");
}

TEST(OpenBlasCoreTest, KnownCoresAndOldCpusAreLeftAlone) {
  EXPECT_EQ(CoreTypeFor("SapphireRapids", Isa(true, true, true)), "");
  EXPECT_EQ(CoreTypeFor("SkylakeX", Isa(true, true, false)), "");
  EXPECT_EQ(CoreTypeFor("Haswell", Isa(true, true, true)), "");
  EXPECT_EQ(CoreTypeFor("Prescott", Isa(false, false, false)), "");
  EXPECT_EQ(CoreTypeFor("", Isa(true, true, true)), "");
}

TEST(OpenBlasCoreTest, WithoutOpenBlasThereIsNothingToSayOrDo) {
  // base_test does not link OpenBLAS.
  EXPECT_EQ(LoadedOpenBlasCore(), "");
  EXPECT_EQ(OpenBlasCoreNote(), "");
}

}  // namespace
}  // namespace latentsearch::base
