#include "common/model/checkpoint.h"

#include <dirent.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/base/file.h"
#include "common/base/little_endian.h"
#include "common/base/logging.h"
#include "common/base/status_macros.h"

namespace latentsearch::model {
namespace {

constexpr char kMagic[8] = {'\x89', 'L', 'S', 'C', 'K', 'P', 'T', '\n'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kHeaderBytes = 64;
constexpr uint64_t kMaxMetadataBytes = 1 << 20;

std::string FormatDouble(double v) {
  if (std::isnan(v)) return "nan";
  return absl::StrFormat("%.17g", v);
}

std::string JoinFloats(const std::vector<float>& v) {
  return absl::StrJoin(
      v, ",", [](std::string* out, float f) { absl::StrAppend(out, absl::StrFormat("%.9g", f)); });
}

std::string EncodeMetadata(const CheckpointMetadata& m) {
  std::vector<std::pair<std::string, std::string>> kv = {
      {"model_name", m.model_name},
      {"version", absl::StrCat(m.version)},
      {"architecture", m.architecture},
      {"latent_size", absl::StrCat(m.latent_size)},
      {"input_shape", FormatInputShape(m.input_shape)},
      {"norm_scale", absl::StrFormat("%.9g", m.normalization.scale)},
      {"norm_mean", JoinFloats(m.normalization.mean)},
      {"norm_std", JoinFloats(m.normalization.std)},
      {"dataset", m.dataset},
      {"objective", m.objective},
      {"epoch", absl::StrCat(m.epoch)},
      {"step", absl::StrCat(m.step)},
      {"train_loss", FormatDouble(m.train_loss)},
      {"validation_loss", FormatDouble(m.validation_loss)},
      {"created_at_unix_nanos", absl::StrCat(absl::ToUnixNanos(m.created_at))},
      {"sha256", m.sha256},
      {"size_bytes", absl::StrCat(m.size_bytes)},
      {"job_id", m.job_id},
      {"encoder_parameters", absl::StrCat(m.encoder_parameters)},
      {"decoder_parameters", absl::StrCat(m.decoder_parameters)},
  };
  std::string out;
  for (const auto& [k, v] : kv) absl::StrAppend(&out, k, "=", absl::CEscape(v), "\n");
  return out;
}

absl::Status ParseFloats(absl::string_view text, std::vector<float>* out) {
  out->clear();
  if (text.empty()) return absl::OkStatus();
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    float f;
    if (!absl::SimpleAtof(part, &f)) {
      return absl::DataLossError(absl::StrCat("bad float '", part, "'"));
    }
    out->push_back(f);
  }
  return absl::OkStatus();
}

absl::Status ParseDouble(absl::string_view text, double* out) {
  if (text == "nan") {
    *out = std::numeric_limits<double>::quiet_NaN();
    return absl::OkStatus();
  }
  if (!absl::SimpleAtod(text, out)) {
    return absl::DataLossError(absl::StrCat("bad number '", text, "'"));
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status ParseInt(absl::string_view text, T* out) {
  if (!absl::SimpleAtoi(text, out)) {
    return absl::DataLossError(absl::StrCat("bad integer '", text, "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<CheckpointMetadata> DecodeMetadata(absl::string_view text) {
  std::map<std::string, std::string> kv;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      return absl::DataLossError(absl::StrCat("metadata line without '=': '", line, "'"));
    }
    std::string value;
    if (!absl::CUnescape(line.substr(eq + 1), &value)) {
      return absl::DataLossError(absl::StrCat("bad escape in metadata line '", line, "'"));
    }
    kv[std::string(line.substr(0, eq))] = std::move(value);
  }
  for (const char* required :
       {"architecture", "latent_size", "input_shape", "sha256", "size_bytes"}) {
    if (!kv.count(required)) {
      return absl::DataLossError(absl::StrCat("metadata lacks '", required, "'"));
    }
  }
  CheckpointMetadata m;
  auto get = [&](const char* k) -> const std::string* {
    auto it = kv.find(k);
    return it == kv.end() ? nullptr : &it->second;
  };
  if (auto* v = get("model_name")) m.model_name = *v;
  if (auto* v = get("version")) LS_RETURN_IF_ERROR(ParseInt(*v, &m.version));
  m.architecture = *get("architecture");
  LS_RETURN_IF_ERROR(ParseInt(*get("latent_size"), &m.latent_size));
  auto shape = ParseInputShape(*get("input_shape"));
  if (!shape.ok()) return absl::DataLossError(shape.status().message());
  m.input_shape = *shape;
  if (auto* v = get("norm_scale")) {
    if (!absl::SimpleAtof(*v, &m.normalization.scale)) {
      return absl::DataLossError(absl::StrCat("bad norm_scale '", *v, "'"));
    }
  }
  if (auto* v = get("norm_mean")) LS_RETURN_IF_ERROR(ParseFloats(*v, &m.normalization.mean));
  if (auto* v = get("norm_std")) LS_RETURN_IF_ERROR(ParseFloats(*v, &m.normalization.std));
  if (auto* v = get("dataset")) m.dataset = *v;
  if (auto* v = get("objective")) m.objective = *v;
  if (auto* v = get("epoch")) LS_RETURN_IF_ERROR(ParseInt(*v, &m.epoch));
  if (auto* v = get("step")) LS_RETURN_IF_ERROR(ParseInt(*v, &m.step));
  if (auto* v = get("train_loss")) LS_RETURN_IF_ERROR(ParseDouble(*v, &m.train_loss));
  if (auto* v = get("validation_loss")) {
    LS_RETURN_IF_ERROR(ParseDouble(*v, &m.validation_loss));
  }
  if (auto* v = get("created_at_unix_nanos")) {
    int64_t nanos;
    LS_RETURN_IF_ERROR(ParseInt(*v, &nanos));
    m.created_at = absl::FromUnixNanos(nanos);
  }
  m.sha256 = *get("sha256");
  LS_RETURN_IF_ERROR(ParseInt(*get("size_bytes"), &m.size_bytes));
  if (auto* v = get("job_id")) m.job_id = *v;
  if (auto* v = get("encoder_parameters")) LS_RETURN_IF_ERROR(ParseInt(*v, &m.encoder_parameters));
  if (auto* v = get("decoder_parameters")) LS_RETURN_IF_ERROR(ParseInt(*v, &m.decoder_parameters));
  return m;
}

absl::Status Corrupt(absl::string_view source, absl::string_view what) {
  return absl::DataLossError(
      absl::StrCat("checkpoint '", source, "' is corrupt or truncated: ", what));
}

struct Header {
  uint64_t metadata_bytes = 0;
  uint64_t weights_bytes = 0;
};

// Checks the first kHeaderBytes bytes (and nothing else).
absl::StatusOr<Header> ParseHeader(absl::string_view bytes, absl::string_view source) {
  if (bytes.size() < kHeaderBytes) {
    return Corrupt(source, absl::StrCat(bytes.size(), " bytes, shorter than the ", kHeaderBytes,
                                        "-byte header"));
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return Corrupt(source, "bad magic (not a latentsearch checkpoint)");
  }
  const uint32_t version = base::LoadLittleEndian<uint32_t>(bytes.data() + 8);
  if (version != kFormatVersion) {
    return Corrupt(source, absl::StrCat("format version ", version, "; this build reads version ",
                                        kFormatVersion));
  }
  Header h;
  h.metadata_bytes = base::LoadLittleEndian<uint64_t>(bytes.data() + 16);
  h.weights_bytes = base::LoadLittleEndian<uint64_t>(bytes.data() + 24);
  if (h.metadata_bytes > kMaxMetadataBytes) {
    return Corrupt(
        source, absl::StrCat("metadata length ", h.metadata_bytes, " exceeds ", kMaxMetadataBytes));
  }
  return h;
}

// Verifies the header checksum over header + metadata and decodes it.
absl::StatusOr<CheckpointMetadata> CheckMetadata(absl::string_view head, absl::string_view metadata,
                                                 absl::string_view source) {
  if (RawSha256(head.substr(0, 32), metadata) != head.substr(32, 32)) {
    return Corrupt(source, "header checksum mismatch");
  }
  absl::StatusOr<CheckpointMetadata> m = DecodeMetadata(metadata);
  if (!m.ok()) return Corrupt(source, m.status().message());
  return m;
}

bool ParseVersionFile(absl::string_view file, uint64_t* version) {
  if (!absl::ConsumePrefix(&file, "v") || !absl::ConsumeSuffix(&file, ".ckpt")) {
    return false;
  }
  if (file.size() < 6) return false;
  for (char c : file) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return absl::SimpleAtoi(file, version) && *version > 0;
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

bool IsDir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

std::string RawSha256(absl::string_view a, absl::string_view b) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx, a.data(), a.size());
  EVP_DigestUpdate(ctx, b.data(), b.size());
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  return std::string(reinterpret_cast<char*>(md), len);
}

std::string Sha256Hex(absl::string_view bytes) {
  return absl::BytesToHexString(RawSha256(bytes, ""));
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }
void Sha256::Update(absl::string_view bytes) { EVP_DigestUpdate(ctx_, bytes.data(), bytes.size()); }
std::string Sha256::HexDigest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, md, &len);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(md), len));
}

Checkpoint MakeCheckpoint(CheckpointMetadata metadata, std::string weights) {
  metadata.sha256 = Sha256Hex(weights);
  metadata.size_bytes = weights.size();
  return Checkpoint{std::move(metadata), std::move(weights)};
}

absl::Status VerifyWeights(const CheckpointMetadata& m, absl::string_view weights,
                           absl::string_view source) {
  if (weights.size() != m.size_bytes) {
    return absl::DataLossError(absl::StrCat(source, ": weights are ", weights.size(),
                                            " bytes, metadata says ", m.size_bytes));
  }
  std::string sha = Sha256Hex(weights);
  if (sha != m.sha256) {
    return absl::DataLossError(
        absl::StrCat(source, ": weights SHA-256 ", sha, " differs from the metadata's ", m.sha256));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> EncodeCheckpoint(const Checkpoint& c) {
  if (absl::Status s = VerifyWeights(c.metadata, c.weights, "EncodeCheckpoint"); !s.ok()) {
    return absl::InvalidArgumentError(s.message());
  }
  const std::string metadata = EncodeMetadata(c.metadata);
  std::string out(kMagic, sizeof(kMagic));
  base::AppendLittleEndian<uint32_t>(kFormatVersion, &out);
  base::AppendLittleEndian<uint32_t>(0, &out);  // flags
  base::AppendLittleEndian<uint64_t>(metadata.size(), &out);
  base::AppendLittleEndian<uint64_t>(c.weights.size(), &out);
  out += RawSha256(out, metadata);
  out.reserve(out.size() + metadata.size() + c.weights.size());
  out += metadata;
  out += c.weights;
  return out;
}

absl::StatusOr<Checkpoint> DecodeCheckpoint(absl::string_view bytes, absl::string_view source) {
  LS_ASSIGN_OR_RETURN(Header h, ParseHeader(bytes, source));
  const uint64_t want = kHeaderBytes + h.metadata_bytes + h.weights_bytes;
  if (h.weights_bytes > bytes.size() || bytes.size() != want) {
    return Corrupt(source, absl::StrCat(bytes.size(), " bytes; the header announces ", want));
  }
  Checkpoint c;
  LS_ASSIGN_OR_RETURN(c.metadata,
                      CheckMetadata(bytes.substr(0, kHeaderBytes),
                                    bytes.substr(kHeaderBytes, h.metadata_bytes), source));
  absl::string_view weights = bytes.substr(kHeaderBytes + h.metadata_bytes);
  if (absl::Status s = VerifyWeights(c.metadata, weights, source); !s.ok()) {
    return Corrupt(source, s.message());
  }
  c.weights = std::string(weights);
  return c;
}

absl::Status WriteCheckpointFile(const std::string& path, const Checkpoint& c) {
  LS_ASSIGN_OR_RETURN(std::string bytes, EncodeCheckpoint(c));
  return base::WriteFileAtomically(path, bytes);
}

absl::StatusOr<Checkpoint> ReadCheckpointFile(const std::string& path) {
  LS_ASSIGN_OR_RETURN(std::string bytes, base::ReadFile(path));
  return DecodeCheckpoint(bytes, path);
}

absl::StatusOr<CheckpointMetadata> ReadCheckpointMetadata(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    // Let ReadFile produce the right code (NOT_FOUND, PERMISSION_DENIED).
    LS_RETURN_IF_ERROR(base::ReadFile(path).status());
    return absl::UnknownError(absl::StrCat("cannot open '", path, "'"));
  }
  std::string head(kHeaderBytes, '\0');
  in.read(head.data(), head.size());
  head.resize(static_cast<size_t>(in.gcount()));
  LS_ASSIGN_OR_RETURN(Header h, ParseHeader(head, path));
  std::string metadata(h.metadata_bytes, '\0');
  in.read(metadata.data(), metadata.size());
  if (static_cast<uint64_t>(in.gcount()) != h.metadata_bytes) {
    return Corrupt(path, "file ends inside the metadata");
  }
  LS_ASSIGN_OR_RETURN(uint64_t size, base::FileSize(path));
  const uint64_t want = kHeaderBytes + h.metadata_bytes + h.weights_bytes;
  if (size != want) {
    return Corrupt(path, absl::StrCat(size, " bytes; the header announces ", want));
  }
  return CheckMetadata(head, metadata, path);
}

absl::StatusOr<std::unique_ptr<Model>> LoadModel(const Checkpoint& c, const ModelOptions& options) {
  LS_RETURN_IF_ERROR(VerifyWeights(c.metadata, c.weights, "checkpoint weights"));
  LS_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::Create(c.metadata.spec(), options));
  absl::Status s = model->LoadWeights(c.weights);
  if (s.code() == absl::StatusCode::kDataLoss) {
    return absl::InvalidArgumentError(
        absl::StrCat("weights do not load into '", c.metadata.architecture, "': ", s.message()));
  }
  LS_RETURN_IF_ERROR(s);
  return model;
}

absl::Status ValidateModelName(absl::string_view name) {
  bool ok = !name.empty() && name.size() <= 128 && name != "." && name != "..";
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      ok = false;
    }
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("model name '", name,
                     "': allowed are 1..128 characters of [A-Za-z0-9_.-], "
                     "not '.' or '..'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<CheckpointStore>> CheckpointStore::Open(const std::string& root) {
  LS_RETURN_IF_ERROR(base::MakeDirs(root));
  for (const std::string& name : ListDir(root)) {
    const std::string dir = base::JoinPath(root, name);
    if (!IsDir(dir)) continue;
    for (const std::string& file : ListDir(dir)) {
      if (!absl::StrContains(file, ".ckpt.tmp.")) continue;
      // A write that never finished (the process died before its rename).
      const std::string path = base::JoinPath(dir, file);
      if (::unlink(path.c_str()) != 0) {
        LOG(WARNING) << "checkpoint store: cannot remove the unfinished write " << path << ": "
                     << std::strerror(errno);
      }
    }
  }
  return std::unique_ptr<CheckpointStore>(new CheckpointStore(root));
}

std::string CheckpointStore::PathFor(const std::string& name, uint64_t version) const {
  return base::JoinPath(base::JoinPath(root_, name), absl::StrFormat("v%06d.ckpt", version));
}

std::vector<uint64_t> CheckpointStore::Versions(const std::string& name) const {
  std::vector<uint64_t> versions;
  if (!ValidateModelName(name).ok()) return versions;
  for (const std::string& file : ListDir(base::JoinPath(root_, name))) {
    uint64_t v;
    if (ParseVersionFile(file, &v)) versions.push_back(v);
  }
  std::sort(versions.begin(), versions.end());
  return versions;
}

absl::StatusOr<CheckpointMetadata> CheckpointStore::Add(Checkpoint c) {
  if (c.metadata.model_name.empty()) c.metadata.model_name = "default";
  LS_RETURN_IF_ERROR(ValidateModelName(c.metadata.model_name));
  absl::MutexLock lock(&add_mu_);
  const std::string& name = c.metadata.model_name;
  LS_RETURN_IF_ERROR(base::MakeDirs(base::JoinPath(root_, name)));
  std::vector<uint64_t> versions = Versions(name);
  c.metadata.version = versions.empty() ? 1 : versions.back() + 1;
  LS_RETURN_IF_ERROR(WriteCheckpointFile(PathFor(name, c.metadata.version), c));
  return c.metadata;
}

absl::StatusOr<std::vector<CheckpointMetadata>> CheckpointStore::List(
    const std::string& name) const {
  std::vector<std::string> names;
  if (name.empty()) {
    for (const std::string& n : ListDir(root_)) {
      if (ValidateModelName(n).ok() && IsDir(base::JoinPath(root_, n))) names.push_back(n);
    }
  } else {
    LS_RETURN_IF_ERROR(ValidateModelName(name));
    names.push_back(name);
  }
  std::vector<CheckpointMetadata> out;
  for (const std::string& n : names) {
    std::vector<uint64_t> versions = Versions(n);
    for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
      absl::StatusOr<CheckpointMetadata> m = ReadCheckpointMetadata(PathFor(n, *it));
      if (!m.ok()) {
        LOG(WARNING) << "checkpoint store: leaving out of the list: " << m.status();
        continue;
      }
      out.push_back(*std::move(m));
    }
  }
  return out;
}

absl::StatusOr<Checkpoint> CheckpointStore::Get(const std::string& name, uint64_t version) const {
  const std::string n = name.empty() ? "default" : name;
  LS_RETURN_IF_ERROR(ValidateModelName(n));
  std::vector<uint64_t> versions = Versions(n);
  if (versions.empty()) {
    return absl::NotFoundError(absl::StrCat("no checkpoints for model '", n, "'"));
  }
  if (version == 0) version = versions.back();
  if (!std::binary_search(versions.begin(), versions.end(), version)) {
    return absl::NotFoundError(absl::StrCat("model '", n, "' has no version ", version,
                                            "; versions ", versions.front(), "..",
                                            versions.back()));
  }
  return ReadCheckpointFile(PathFor(n, version));
}

}  // namespace latentsearch::model
