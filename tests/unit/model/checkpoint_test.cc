// The checkpoint file format and the versioned store.
#include "common/model/checkpoint.h"

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/base/file.h"
#include "common/model/model.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::model {
namespace {

using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::TempDir;
using ::testing::_;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

CheckpointMetadata SampleMetadata() {
  CheckpointMetadata m;
  m.model_name = "fashion";
  m.architecture = "conv";
  m.latent_size = 10;
  m.input_shape = {28, 28, 1};
  m.normalization.mean = {0.5f};
  m.normalization.std = {0.25f};
  m.dataset = "idx:/usr/share/datasets/fashion-mnist [train]\nline2 = \"quoted\"";
  m.epoch = 3;
  m.step = 1234;
  m.train_loss = 0.0123456789012345;
  m.created_at = absl::FromUnixNanos(1700000000123456789);
  m.job_id = "job-000001";
  m.encoder_parameters = 111;
  m.decoder_parameters = 222;
  return m;
}

TEST(CheckpointFormatTest, RoundTripsEveryField) {
  Checkpoint c = MakeCheckpoint(SampleMetadata(), std::string("weights\0bytes", 13));
  EXPECT_EQ(c.metadata.size_bytes, 13u);
  EXPECT_EQ(c.metadata.sha256, Sha256Hex(c.weights));
  ASSERT_OK_AND_ASSIGN(std::string bytes, EncodeCheckpoint(c));
  EXPECT_EQ(bytes.substr(0, 8), "\x89LSCKPT\n");
  ASSERT_OK_AND_ASSIGN(Checkpoint d, DecodeCheckpoint(bytes, "mem"));
  const CheckpointMetadata& m = d.metadata;
  EXPECT_EQ(d.weights, c.weights);
  EXPECT_EQ(m.model_name, "fashion");
  EXPECT_EQ(m.architecture, "conv");
  EXPECT_EQ(m.latent_size, 10);
  EXPECT_EQ(m.input_shape, (InputShape{28, 28, 1}));
  EXPECT_FLOAT_EQ(m.normalization.scale, 1.0f / 255.0f);
  EXPECT_THAT(m.normalization.mean, ElementsAre(0.5f));
  EXPECT_THAT(m.normalization.std, ElementsAre(0.25f));
  EXPECT_EQ(m.dataset, SampleMetadata().dataset);
  EXPECT_EQ(m.objective, "reconstruction");
  EXPECT_EQ(m.epoch, 3u);
  EXPECT_EQ(m.step, 1234u);
  EXPECT_EQ(m.train_loss, 0.0123456789012345);
  EXPECT_TRUE(std::isnan(m.validation_loss));
  EXPECT_EQ(m.created_at, absl::FromUnixNanos(1700000000123456789));
  EXPECT_EQ(m.sha256, c.metadata.sha256);
  EXPECT_EQ(m.job_id, "job-000001");
  EXPECT_EQ(m.encoder_parameters, 111u);
  EXPECT_EQ(m.decoder_parameters, 222u);
}

TEST(CheckpointFormatTest, Sha256MatchesKnownVectorsAndStreams) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 h;
  h.Update("a");
  h.Update("bc");
  EXPECT_EQ(h.HexDigest(), Sha256Hex("abc"));
}

TEST(CheckpointFormatTest, EveryTruncationAndCorruptionIsDataLossNamingTheSource) {
  Checkpoint c = MakeCheckpoint(SampleMetadata(), std::string(300, 'w'));
  ASSERT_OK_AND_ASSIGN(std::string bytes, EncodeCheckpoint(c));
  for (size_t len = 0; len < bytes.size(); len += 7) {
    EXPECT_THAT(DecodeCheckpoint(bytes.substr(0, len), "ckpt-x").status(),
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr("'ckpt-x'")))
        << len;
  }
  EXPECT_THAT(DecodeCheckpoint(bytes + "x", "ckpt-x").status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("announces")));
  // A flipped bit anywhere: magic, version, lengths, header checksum,
  // metadata, weights.
  for (size_t pos : {size_t{0}, size_t{9}, size_t{17}, size_t{40}, size_t{70}, bytes.size() - 1}) {
    std::string bad = bytes;
    bad[pos] ^= 0x04;
    EXPECT_THAT(DecodeCheckpoint(bad, "ckpt-x").status(),
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr("'ckpt-x'")))
        << pos;
  }
  // Weights not matching their metadata cannot be encoded.
  Checkpoint wrong = c;
  wrong.weights += "!";
  EXPECT_THAT(EncodeCheckpoint(wrong).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bytes")));
}

TEST(CheckpointFileTest, CorruptFileIsDataLossNamingTheFile) {
  TempDir dir;
  const std::string path = dir.Join("a.ckpt");
  Checkpoint c = MakeCheckpoint(SampleMetadata(), std::string(1000, 'w'));
  ASSERT_OK(WriteCheckpointFile(path, c));
  ASSERT_OK_AND_ASSIGN(CheckpointMetadata m, ReadCheckpointMetadata(path));
  EXPECT_EQ(m.sha256, c.metadata.sha256);
  ASSERT_OK_AND_ASSIGN(std::string bytes, base::ReadFile(path));
  ASSERT_OK(base::WriteFileAtomically(path, bytes.substr(0, bytes.size() - 10)));
  EXPECT_THAT(ReadCheckpointFile(path).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr(path)));
  EXPECT_THAT(ReadCheckpointMetadata(path).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr(path)));
  bytes[bytes.size() - 5] ^= 1;  // Full length, weights flipped.
  ASSERT_OK(base::WriteFileAtomically(path, bytes));
  EXPECT_THAT(ReadCheckpointFile(path).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("SHA-256")));
  EXPECT_THAT(ReadCheckpointFile(dir.Join("missing.ckpt")).status(),
              StatusIs(absl::StatusCode::kNotFound, _));
}

TEST(CheckpointModelTest, LoadsWithoutKnowingTheArchitectureInAdvance) {
  ModelOptions o;
  o.seed = 5;
  ASSERT_OK_AND_ASSIGN(auto model, Model::Create({"seed", 6, {16, 16, 1}}, o));
  ASSERT_OK_AND_ASSIGN(std::string weights, model->SerializeWeights());
  CheckpointMetadata m;
  m.architecture = "seed";
  m.latent_size = 6;
  m.input_shape = {16, 16, 1};
  TempDir dir;
  ASSERT_OK(WriteCheckpointFile(dir.Join("m.ckpt"), MakeCheckpoint(m, weights)));

  ASSERT_OK_AND_ASSIGN(Checkpoint c, ReadCheckpointFile(dir.Join("m.ckpt")));
  ASSERT_OK_AND_ASSIGN(auto loaded, LoadModel(c));
  EXPECT_EQ(loaded->spec().architecture, "seed");
  std::vector<float> x(16 * 16, 0.3f);
  ASSERT_OK_AND_ASSIGN(auto want, model->Encode(x, 1));
  ASSERT_OK_AND_ASSIGN(auto got, loaded->Encode(x, 1));
  EXPECT_EQ(got, want);

  Checkpoint unknown = c;
  unknown.metadata.architecture = "vit";
  EXPECT_THAT(LoadModel(unknown).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("known: conv, resnet, resnet_small, seed")));
  Checkpoint mismatch = c;
  mismatch.metadata.latent_size = 7;
  EXPECT_THAT(LoadModel(mismatch).status(), StatusIs(absl::StatusCode::kInvalidArgument, _));
  Checkpoint garbage = MakeCheckpoint(m, "garbage");
  EXPECT_THAT(LoadModel(garbage).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("do not load")));
  Checkpoint tampered = c;
  tampered.weights[100] ^= 1;
  EXPECT_THAT(LoadModel(tampered).status(), StatusIs(absl::StatusCode::kDataLoss, _));
}

TEST(CheckpointStoreTest, VersionsPerNameNewestFirst) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto store, CheckpointStore::Open(dir.Join("ckpts")));
  for (int i = 0; i < 3; ++i) {
    CheckpointMetadata m = SampleMetadata();
    m.epoch = i + 1;
    ASSERT_OK_AND_ASSIGN(CheckpointMetadata s,
                         store->Add(MakeCheckpoint(m, "w" + std::to_string(i))));
    EXPECT_EQ(s.version, static_cast<uint64_t>(i + 1));
  }
  CheckpointMetadata other = SampleMetadata();
  other.model_name = "";
  ASSERT_OK_AND_ASSIGN(CheckpointMetadata d, store->Add(MakeCheckpoint(other, "d")));
  EXPECT_EQ(d.model_name, "default");
  EXPECT_EQ(d.version, 1u);
  EXPECT_EQ(store->PathFor("fashion", 2), dir.Join("ckpts/fashion/v000002.ckpt"));

  ASSERT_OK_AND_ASSIGN(auto list, store->List("fashion"));
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].version, 3u);
  EXPECT_EQ(list[2].version, 1u);
  ASSERT_OK_AND_ASSIGN(auto all, store->List());
  EXPECT_EQ(all.size(), 4u);
  ASSERT_OK_AND_ASSIGN(Checkpoint newest, store->Get("fashion", 0));
  EXPECT_EQ(newest.metadata.version, 3u);
  EXPECT_EQ(newest.weights, "w2");
  ASSERT_OK_AND_ASSIGN(Checkpoint v1, store->Get("fashion", 1));
  EXPECT_EQ(v1.metadata.epoch, 1u);
  EXPECT_THAT(store->Get("fashion", 9).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("1..3")));
  EXPECT_THAT(store->Get("nobody", 0).status(), StatusIs(absl::StatusCode::kNotFound, _));
  EXPECT_THAT(store->Get("../etc", 0).status(), StatusIs(absl::StatusCode::kInvalidArgument, _));
  CheckpointMetadata bad = SampleMetadata();
  bad.model_name = "a/b";
  EXPECT_THAT(store->Add(MakeCheckpoint(bad, "x")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("A-Za-z0-9")));
}

TEST(CheckpointStoreTest, CorruptVersionIsSkippedByListAndDataLossOnGet) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto store, CheckpointStore::Open(dir.path()));
  ASSERT_OK(store->Add(MakeCheckpoint(SampleMetadata(), "one")).status());
  ASSERT_OK(store->Add(MakeCheckpoint(SampleMetadata(), "two")).status());
  const std::string path = store->PathFor("fashion", 2);
  ASSERT_OK_AND_ASSIGN(std::string bytes, base::ReadFile(path));
  ASSERT_OK(base::WriteFileAtomically(path, bytes.substr(0, 50)));
  ASSERT_OK_AND_ASSIGN(auto list, store->List("fashion"));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].version, 1u);
  EXPECT_THAT(store->Get("fashion", 2).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr(path)));
  EXPECT_THAT(store->Get("fashion", 0).status(), StatusIs(absl::StatusCode::kDataLoss, _));
  // The next version does not reuse 2.
  ASSERT_OK_AND_ASSIGN(auto m, store->Add(MakeCheckpoint(SampleMetadata(), "three")));
  EXPECT_EQ(m.version, 3u);
}

TEST(CheckpointStoreTest, TempFilesOfADeadWriterAreIgnoredAndRemovedOnOpen) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(auto store, CheckpointStore::Open(dir.path()));
    ASSERT_OK(store->Add(MakeCheckpoint(SampleMetadata(), "one")).status());
  }
  // What WriteFileAtomically leaves when killed before its rename.
  const std::string tmp = dir.Join("fashion/v000002.ckpt.tmp.123.456");
  std::ofstream(tmp) << "\x89LSCKPT\nhalf a checkpoint";
  ASSERT_OK_AND_ASSIGN(auto store, CheckpointStore::Open(dir.path()));
  EXPECT_THAT(base::FileSize(tmp).status(), StatusIs(absl::StatusCode::kNotFound, _));
  ASSERT_OK_AND_ASSIGN(auto list, store->List());
  ASSERT_EQ(list.size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto m, store->Add(MakeCheckpoint(SampleMetadata(), "two")));
  EXPECT_EQ(m.version, 2u);
}

}  // namespace
}  // namespace latentsearch::model
