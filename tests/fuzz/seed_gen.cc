// Writes the seed corpora of every fuzz target: valid (and a few almost
// valid) inputs in each target's input layout, made with the project's own
// writers so the seeds follow the formats as they are. Run by
// tests/fuzz/make_corpus.sh (make fuzz):
//   fuzz_seed_gen OUT_DIR      -> OUT_DIR/<target>/seed-NN
// Deterministic: the same build writes the same seeds.
#include <sys/stat.h>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/base/file.h"
#include "common/base/md5.h"
#include "common/image/image.h"
#include "common/index/collection.h"
#include "common/index/hnsw.h"
#include "common/index/storage.h"
#include "latentsearch/v1/encoder.pb.h"
#include "latentsearch/v1/search.pb.h"
#include "latentsearch/v1/trainer.pb.h"
#include "tests/fuzz/fuzz_util.h"
#ifdef LS_FUZZ_WITH_TORCH
#include "common/model/checkpoint.h"
#include "common/model/model.h"
#endif

namespace {

using namespace latentsearch;
using latentsearch::fuzz::AppendLengthPrefixed;
using latentsearch::fuzz::AppendU32;

std::string g_out;
std::map<std::string, int> g_count;

void Die(const std::string& what) {
  std::fprintf(stderr, "fuzz_seed_gen: %s\n", what.c_str());
  std::exit(1);
}

void Seed(const std::string& target, const std::string& bytes) {
  const std::string dir = g_out + "/" + target;
  std::filesystem::create_directories(dir);
  char name[32];
  std::snprintf(name, sizeof(name), "seed-%02d", g_count[target]++);
  std::ofstream f(dir + "/" + name, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) Die("cannot write " + dir + "/" + name);
}

template <typename T>
T Must(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) Die(absl::StrCat(what, ": ", v.status().ToString()));
  return *std::move(v);
}

std::string U32BE(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>((v >> (24 - 8 * i)) & 0xff);
  return s;
}

std::string Gzip(const std::string& in) {
  z_stream z{};
  if (deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) Die("deflateInit2");
  std::string out(deflateBound(&z, in.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) Die("deflate");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

image::Image Pattern(int h, int w, int c, int salt) {
  image::Image img(h, w, c);
  for (size_t i = 0; i < img.pixels.size(); ++i) {
    img.pixels[i] = static_cast<uint8_t>((i * 37 + salt * 11) & 0xff);
  }
  return img;
}

// ---------------------------------------------------------------------------

void DataSeeds() {
  // CIFAR-10: flags | meta | MD5SUMS | test_batch.bin.
  std::string records;
  for (int r = 0; r < 3; ++r) {
    records.push_back(static_cast<char>(r * 3 % 10));
    for (int i = 0; i < 3072; ++i) records.push_back(static_cast<char>((i * 7 + r) & 0xff));
  }
  const std::string meta = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n";
  const std::string sums =
      base::Md5Hex(records) + "  test_batch.bin\n" + std::string(32, '0') + "  data_batch_1.bin\n";
  for (uint8_t flags : {0, 1, 3, 7}) {
    std::string s(1, static_cast<char>(flags));
    AppendLengthPrefixed(&s, flags & 1 ? meta : "");
    AppendLengthPrefixed(&s, flags & 2 ? sums : "");
    s += records;
    Seed("cifar_fuzzer", s);
  }
  std::string bad(1, '\0');
  AppendLengthPrefixed(&bad, "");
  AppendLengthPrefixed(&bad, "");
  bad += records.substr(0, 3073 + 100);  // A truncated second record.
  Seed("cifar_fuzzer", bad);

  // IDX: u16 split (big-endian) | images file | labels file.
  const uint32_t n = 3, rows = 4, cols = 5;
  std::string images = U32BE(0x00000803) + U32BE(n) + U32BE(rows) + U32BE(cols);
  for (uint32_t i = 0; i < n * rows * cols; ++i) images.push_back(static_cast<char>(i * 13));
  std::string labels = U32BE(0x00000801) + U32BE(n);
  for (uint32_t i = 0; i < n; ++i) labels.push_back(static_cast<char>(i));
  for (bool gz : {false, true}) {
    const std::string a = gz ? Gzip(images) : images;
    const std::string b = gz ? Gzip(labels) : labels;
    std::string s;
    s.push_back(static_cast<char>((a.size() >> 8) & 0xff));
    s.push_back(static_cast<char>(a.size() & 0xff));
    Seed("idx_fuzzer", s + a + b);
  }

  // Images: PNG and JPEG; the last byte picks the channels to decode to.
  for (int c : {1, 3}) {
    const image::Image img = Pattern(6, 5, c, c);
    Seed("image_fuzzer", Must(image::EncodePng(img), "EncodePng") + std::string(1, '\3'));
    Seed("image_fuzzer", Must(image::EncodeJpeg(img), "EncodeJpeg") + std::string(1, '\1'));
  }
}

// ---------------------------------------------------------------------------

index::SnapshotData SampleSnapshot(bool hnsw) {
  index::SnapshotData d;
  d.config.name = "seed";
  d.config.dim = 3;
  d.config.hnsw = hnsw;
  d.config.hnsw_params.m = 4;
  d.config.hnsw_params.ef_construction = 8;
  d.config.ef_search = 8;
  d.wal_seq = 2;
  for (int i = 0; i < 5; ++i) {
    d.items.metas.push_back({absl::StrCat("id", i), i % 2, i == 0 ? "" : "file:/x"});
    for (int k = 0; k < 3; ++k) d.items.vectors.push_back(0.5f * i - k);
    d.versions.push_back(i);  // Snapshot format 2: versions and tombstones.
  }
  d.tombstones = {{"gone", 4}};
  d.max_version = 6;
  return d;
}

void IndexSeeds() {
  const std::string tmp = std::filesystem::temp_directory_path() / "ls-seed-gen-index";
  std::filesystem::remove_all(tmp);
  std::filesystem::create_directories(tmp);
  // A log with upserts, a delete and a versioned batch, through the real
  // writer.
  const std::string wal_path = tmp + "/wal";
  auto writer = Must(index::WalWriter::Open(wal_path, 3, 0), "WalWriter::Open");
  for (uint64_t seq = 3; seq <= 6; ++seq) {
    index::WalRecord rec;
    rec.seq = seq;
    if (seq == 4) {
      rec.type = index::WalRecord::Type::kDelete;
      rec.delete_ids = {"id1", "nope"};
    } else if (seq == 6) {
      rec.type = index::WalRecord::Type::kVersioned;
      rec.versioned.upserts.metas = {{"id3", 0, ""}, {"gone", 1, "file:/y"}};
      rec.versioned.upserts.vectors = {1, 2, 3, 4, 5, 6};
      rec.versioned.upsert_versions = {9, 5};
      rec.versioned.delete_ids = {"id2", "w3"};
      rec.versioned.delete_versions = {8, 8};
    } else {
      rec.upserts.metas.push_back({absl::StrCat("w", seq), 1, ""});
      rec.upserts.vectors = {1.0f, 2.0f, static_cast<float>(seq)};
    }
    if (!writer->Append(rec).ok()) Die("WalWriter::Append");
  }
  writer.reset();
  const std::string wal = Must(base::ReadFile(wal_path), "read wal");

  for (bool hnsw : {false, true}) {
    const std::string snap = index::EncodeSnapshot(SampleSnapshot(hnsw));
    for (uint8_t flags : {0x00, 0x07, 0x0f}) {
      std::string s(1, static_cast<char>(flags));
      AppendLengthPrefixed(&s, snap);
      Seed("collection_fuzzer", s + wal);
    }
    // A torn last record.
    std::string s(1, '\x0f');
    AppendLengthPrefixed(&s, snap);
    Seed("collection_fuzzer", s + wal.substr(0, wal.size() - 5));
  }

  // A saved HNSW graph for each metric (flags bit4, metric in bits 5..6).
  const index::SnapshotData d = SampleSnapshot(true);
  std::vector<uint32_t> slots = {0, 1, 2, 3, 4};
  for (int m = 0; m < 3; ++m) {
    const auto metric = static_cast<index::Metric>(m);
    std::vector<float> base = d.items.vectors;
    if (metric == index::Metric::kCosine) {
      for (size_t i = 0; i < base.size(); i += 3) {
        float norm = 0;
        for (int k = 0; k < 3; ++k) norm += base[i + k] * base[i + k];
        norm = norm > 0 ? 1.0f / std::sqrt(norm) : 1.0f;
        for (int k = 0; k < 3; ++k) base[i + k] *= norm;
      }
    }
    auto graph = Must(index::HnswIndex::Build(metric, 3, base.data(), slots.data(), slots.size(),
                                              d.config.hnsw_params, 1),
                      "HnswIndex::Build");
    const std::string path = tmp + "/graph";
    if (!graph->Save(path).ok()) Die("HnswIndex::Save");
    std::string s(1, static_cast<char>(0x10 | (m << 5)));
    AppendLengthPrefixed(&s, index::EncodeSnapshot(d));
    Seed("collection_fuzzer", s + Must(base::ReadFile(path), "read graph"));
  }
  std::filesystem::remove_all(tmp);
}

// ---------------------------------------------------------------------------

std::string Kind(int kind, const google::protobuf::Message& m) {
  return std::string(1, static_cast<char>(kind)) + m.SerializeAsString();
}

void SearchSeeds() {
  v1::SearchRequest s;
  s.set_collection("c");
  for (float v : {1.0f, -2.0f, 0.5f, 3.0f}) s.mutable_vector()->add_values(v);
  Seed("search_request_fuzzer", Kind(0, s));
  s.set_metric(v1::METRIC_COSINE);
  s.set_index_kind(v1::INDEX_KIND_HNSW);
  s.set_k(5);
  s.set_ef(20);
  s.add_labels(1);
  s.add_labels(3);
  s.set_include_vectors(true);
  Seed("search_request_fuzzer", Kind(0, s));
  v1::SearchRequest by_id;
  by_id.set_collection("c");
  by_id.set_item_id("i3");
  by_id.set_exclude_self(true);
  by_id.set_metric(v1::METRIC_L1);
  Seed("search_request_fuzzer", Kind(0, by_id));
  v1::SearchRequest image;
  image.set_collection("c");
  image.mutable_image()->set_encoded("\x89PNG");
  Seed("search_request_fuzzer", Kind(0, image));

  v1::SearchBatchRequest batch;
  batch.set_collection("c");
  *batch.add_queries() = s;
  *batch.add_queries() = by_id;
  Seed("search_request_fuzzer", Kind(1, batch));

  v1::CreateCollectionRequest create;
  create.set_name("fresh");
  create.set_dim(3);
  create.add_metrics(v1::METRIC_L2);
  create.add_index_kinds(v1::INDEX_KIND_HNSW);
  create.mutable_hnsw()->set_m(8);
  create.mutable_hnsw()->set_ef_construction(32);
  create.mutable_model()->set_name("default");
  create.mutable_model()->set_version(2);
  Seed("search_request_fuzzer", Kind(2, create));

  v1::UpsertRequest upsert;
  upsert.set_collection("u");
  for (int i = 0; i < 2; ++i) {
    v1::Item* item = upsert.add_items();
    item->set_id(absl::StrCat("n", i));
    item->set_label(i);
    item->set_uri("file:/n");
    for (int d = 0; d < 4; ++d) item->add_vector(0.25f * d + i);
  }
  Seed("search_request_fuzzer", Kind(3, upsert));

  v1::DeleteRequest del;
  del.set_collection("u");
  del.add_ids("n0");
  del.add_ids("missing");
  Seed("search_request_fuzzer", Kind(4, del));
}

void EncoderSeeds() {
  v1::EncodeRequest enc;
  enc.mutable_model()->set_name("default");
  v1::RawImage* raw = enc.add_images()->mutable_raw();
  raw->set_height(4);
  raw->set_width(3);
  raw->set_channels(3);
  const image::Image rgb = Pattern(4, 3, 3, 1);
  raw->set_pixels(std::string(rgb.pixels.begin(), rgb.pixels.end()));
  enc.add_images()->set_encoded(Must(image::EncodePng(Pattern(5, 7, 1, 2)), "EncodePng"));
  for (int spec = 0; spec < 3; ++spec) {
    Seed("encoder_request_fuzzer",
         std::string(1, static_cast<char>(spec << 1)) + enc.SerializeAsString());
  }
  // A push: metadata, then two chunks (kind 3: the harness fixes the hash).
  v1::CheckpointChunk meta;
  v1::CheckpointMetadata* m = meta.mutable_metadata();
  m->mutable_model()->set_name("default");
  m->set_architecture("conv");
  m->set_latent_size(8);
  m->mutable_input_shape()->set_height(28);
  m->mutable_input_shape()->set_width(28);
  m->mutable_input_shape()->set_channels(1);
  m->set_sha256(std::string(64, 'a'));
  m->set_size_bytes(10);
  std::string push;
  AppendLengthPrefixed(&push, meta.SerializeAsString());
  for (const char* part : {"01234", "56789"}) {
    v1::CheckpointChunk data;
    data.set_data(part);
    AppendLengthPrefixed(&push, data.SerializeAsString());
  }
  Seed("encoder_request_fuzzer", std::string(1, '\1') + push);
  Seed("encoder_request_fuzzer", std::string(1, '\3') + push);
}

void TrainerSeeds() {
  v1::TrainingConfig c;
  c.mutable_dataset()->set_cifar10_dir("/data/cifar10");
  Seed("trainer_config_fuzzer", c.SerializeAsString());
  c.mutable_dataset()->set_idx_dir("/data/fashion");
  c.mutable_dataset()->set_split(v1::SPLIT_TEST);
  c.mutable_dataset()->set_max_images(100);
  c.set_model_name("fm");
  c.set_architecture("seed");
  c.set_latent_size(16);
  c.mutable_input_shape()->set_height(32);
  c.mutable_input_shape()->set_width(32);
  c.mutable_input_shape()->set_channels(1);
  c.set_epochs(2);
  c.set_batch_size(8);
  c.set_optimizer(v1::OPTIMIZER_ADAMW);
  c.set_learning_rate(0.01);
  c.set_weight_decay(0.001);
  c.set_validation_fraction(0.2);
  c.set_checkpoint_policy(v1::CHECKPOINT_POLICY_EVERY_EPOCH);
  c.add_push_to("unix:/tmp/encoder.sock");
  c.set_time_budget_seconds(60);
  Seed("trainer_config_fuzzer", c.SerializeAsString());
  c.mutable_dataset()->set_image_folder("/data/images");
  c.set_architecture("conv");
  c.mutable_input_shape()->set_channels(3);
  Seed("trainer_config_fuzzer", c.SerializeAsString());
}

// weights_archive_fuzzer (u8 ignored, bytes): a bare pickle program
// (PROTO 2, EMPTY_DICT, BINPUT 0, STOP); with LibTorch, ModelSeeds adds a
// real archive.
void ArchiveSeeds() { Seed("weights_archive_fuzzer", std::string("\0\x80\x02}q\0.", 7)); }

#ifdef LS_FUZZ_WITH_TORCH
void ModelSeeds() {
  for (int which = 0; which < 1; ++which) {
    model::ModelSpec spec;
    spec.architecture = which == 0 ? "conv" : "seed";
    spec.latent_size = 4;
    spec.input = which == 0 ? model::InputShape{8, 8, 1} : model::InputShape{16, 16, 3};
    auto m = Must(model::Model::Create(spec), "Model::Create");
    const std::string weights = Must(m->SerializeWeights(), "SerializeWeights");
    // Only the small model's blob seeds the fuzzer (seed's is 4 MB: slow).
    if (which != 0) continue;
    Seed("model_weights_fuzzer", std::string(1, static_cast<char>(which)) + weights);
    Seed("weights_archive_fuzzer", std::string(1, static_cast<char>(which)) + weights);
    model::CheckpointMetadata md;
    md.model_name = "seed-model";
    md.version = 3;
    md.architecture = spec.architecture;
    md.latent_size = spec.latent_size;
    md.input_shape = spec.input;
    md.normalization.mean = {0.5f};
    md.normalization.std = {0.25f};
    md.dataset = "idx:/data [train]";
    md.epoch = 2;
    md.step = 40;
    md.train_loss = 0.125;
    md.job_id = "job-1";
    const model::Checkpoint c = model::MakeCheckpoint(md, weights);
    const std::string file = Must(model::EncodeCheckpoint(c), "EncodeCheckpoint");
    Seed("checkpoint_fuzzer", std::string(1, '\0') + file);
    // The same, framed by the harness: metadata text and a short blob.
    const uint64_t meta_len = static_cast<uint8_t>(file[16]) |
                              static_cast<uint64_t>(static_cast<uint8_t>(file[17])) << 8 |
                              static_cast<uint64_t>(static_cast<uint8_t>(file[18])) << 16;
    std::string framed(1, '\3');
    AppendLengthPrefixed(&framed, file.substr(64, meta_len));
    Seed("checkpoint_fuzzer", framed + "weights");
    std::string unfixed(1, '\1');
    AppendLengthPrefixed(&unfixed, file.substr(64, meta_len));
    Seed("checkpoint_fuzzer", unfixed + "weights");
  }
}
#endif

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) Die("usage: fuzz_seed_gen OUT_DIR");
  g_out = argv[1];
  DataSeeds();
  IndexSeeds();
  SearchSeeds();
  TrainerSeeds();
  EncoderSeeds();
  ArchiveSeeds();
#ifdef LS_FUZZ_WITH_TORCH
  ModelSeeds();
#endif
  for (const auto& [target, n] : g_count) std::printf("%-24s %d seeds\n", target.c_str(), n);
  return 0;
}
