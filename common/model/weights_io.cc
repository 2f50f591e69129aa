// Weights save/load (weights_io.h): LibTorch's pickle archive, read through
// a bounds-checked reader after the torch-free structural checks of
// weights_archive.h.
#include "common/model/weights_io.h"

#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>
#include <malloc.h>
#include <torch/csrc/jit/serialization/import_read.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/model/torch_errors.h"
#include "common/model/weights_archive.h"

namespace latentsearch::model {

using torch::Tensor;

std::string SaveWeights(torch::nn::Module& module, absl::string_view exclude_prefix) {
  c10::Dict<std::string, Tensor> dict;
  auto excluded = [&](const std::string& name) {
    return !exclude_prefix.empty() && absl::StartsWith(name, exclude_prefix);
  };
  for (const auto& p : module.named_parameters(/*recurse=*/true)) {
    if (excluded(p.key())) continue;
    dict.insert(p.key(), p.value().detach().to(torch::kCPU).contiguous());
  }
  for (const auto& b : module.named_buffers(/*recurse=*/true)) {
    if (excluded(b.key())) continue;
    dict.insert(b.key(), b.value().detach().to(torch::kCPU).contiguous());
  }
  std::vector<char> bytes = torch::pickle_save(c10::IValue(dict));
  return std::string(bytes.begin(), bytes.end());
}

namespace {

// The archive's bytes for LibTorch's zip reader, with every read checked
// against the end. torch::pickle_load's own VectorReader copies whatever
// range miniz asks for: on a malformed archive (pushed by a client) that
// read past the buffer (heap-buffer-overflow found by model_weights_fuzzer,
// regression input in tests/fuzz/regressions/model_weights_fuzzer).
class BoundedReadAdapter : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit BoundedReadAdapter(absl::string_view bytes) : bytes_(bytes) {}
  size_t size() const override { return bytes_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* what) const override {
    if (pos > bytes_.size() || n > bytes_.size() - pos) {
      throw std::out_of_range(absl::StrCat(
          "archive read of ", n, " bytes at offset ", pos, " is past its end (", bytes_.size(),
          " bytes)", what != nullptr && *what ? ": " : "", what != nullptr ? what : ""));
    }
    if (n > 0) std::memcpy(buf, bytes_.data() + pos, n);
    return n;
  }

 private:
  absl::string_view bytes_;
};

// Each tensor's storage must lie inside the buffer LibTorch allocated for
// its record: the pickle declares a storage's element count and LibTorch
// believes it, so a count larger than the record let later copies read past
// the allocation. The buffers come from LibTorch's CPU allocator
// (posix_memalign), whose usable size bounds the real allocation.
absl::Status CheckStorages(const std::map<std::string, Tensor>& stored) {
  for (const auto& [name, tensor] : stored) {
    const c10::Storage& storage = tensor.storage();
    const void* data = storage.data();
    if (storage.nbytes() == 0) continue;
    if (data == nullptr || storage.device_type() != c10::DeviceType::CPU ||
        ::malloc_usable_size(const_cast<void*>(data)) < storage.nbytes()) {
      return absl::DataLossError(absl::StrCat("weights archive declares ", storage.nbytes(),
                                              " bytes of storage for '", name,
                                              "' but its record holds fewer"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::map<std::string, Tensor>> ReadWeightsArchive(absl::string_view bytes) {
  if (absl::Status s = CheckWeightsArchive(bytes); !s.ok()) return s;
  c10::IValue value;
  try {
    // As torch::pickle_load, through the bounds-checked reader.
    caffe2::serialize::PyTorchStreamReader reader(std::make_shared<BoundedReadAdapter>(bytes));
    value = torch::jit::readArchiveAndTensors("data", /*pickle_prefix=*/"",
                                              /*tensor_prefix=*/"", c10::nullopt, c10::nullopt,
                                              c10::nullopt, reader);
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat("weights are not a LibTorch archive: ", e.what()));
  }
  if (!value.isGenericDict()) {
    return absl::DataLossError("weights archive does not hold a dictionary");
  }
  std::map<std::string, Tensor> stored;
  absl::Status s = CatchTorch("loading weights", [&]() -> absl::Status {
    auto dict = value.toGenericDict();
    for (const auto& entry : dict) {
      if (!entry.key().isString() || !entry.value().isTensor()) {
        return absl::InvalidArgumentError("weights archive holds a non-tensor entry");
      }
      stored[entry.key().toStringRef()] = entry.value().toTensor();
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (absl::Status c = CheckStorages(stored); !c.ok()) return c;
  return stored;
}

absl::Status LoadTensorsInto(torch::nn::Module& module,
                             const std::map<std::string, Tensor>& stored) {
  return CatchTorch("loading weights", [&]() -> absl::Status {
    std::vector<std::pair<std::string, Tensor>> targets;
    for (const auto& p : module.named_parameters(true)) targets.emplace_back(p.key(), p.value());
    for (const auto& b : module.named_buffers(true)) targets.emplace_back(b.key(), b.value());
    for (const auto& [name, target] : targets) {
      auto it = stored.find(name);
      if (it == stored.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("weights lack parameter '", name, "' (", stored.size(),
                         " stored): they belong to another architecture or size"));
      }
      if (it->second.sizes() != target.sizes()) {
        return absl::InvalidArgumentError(
            absl::StrCat("parameter '", name, "' has shape ", c10::str(it->second.sizes()),
                         " in the weights but ", c10::str(target.sizes()), " in the model"));
      }
    }
    if (stored.size() != targets.size()) {
      return absl::InvalidArgumentError(absl::StrCat("weights hold ", stored.size(),
                                                     " tensors, the model has ", targets.size(),
                                                     ": they belong to another architecture"));
    }
    torch::NoGradGuard no_grad;
    for (auto& [name, target] : targets) target.copy_(stored.at(name));
    return absl::OkStatus();
  });
}

absl::Status LoadWeightsInto(torch::nn::Module& module, absl::string_view bytes) {
  absl::StatusOr<std::map<std::string, Tensor>> stored = ReadWeightsArchive(bytes);
  if (!stored.ok()) return stored.status();
  return LoadTensorsInto(module, *stored);
}

}  // namespace latentsearch::model
