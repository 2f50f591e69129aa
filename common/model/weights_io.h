// Weights as bytes: every named parameter and buffer of a module saved as a
// LibTorch archive (the blob a checkpoint carries), and read back with the
// archive checked first (weights_archive.h) and each name and shape
// checked against the module. LibTorch side: include only from .cc files
// (torch_model.h includes this header).
//
// Functions here return absl::Status for bad bytes; SaveWeights throws
// LibTorch exceptions like the rest of torch_model.h (callers wrap it in
// CatchTorch). Thread-safety: as the module they read or write.
#ifndef LATENTSEARCH_COMMON_MODEL_WEIGHTS_IO_H_
#define LATENTSEARCH_COMMON_MODEL_WEIGHTS_IO_H_

#include <torch/torch.h>

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace latentsearch::model {

// Flat archive of every named parameter and buffer (except those whose
// name starts with `exclude_prefix`, when not empty).
std::string SaveWeights(torch::nn::Module& module, absl::string_view exclude_prefix = "");

// The {name: tensor} dictionary of a weights archive (CPU tensors).
// DATA_LOSS when the bytes fail CheckWeightsArchive, LibTorch cannot read
// them, they hold no dictionary, or a tensor's storage is larger than its
// record; INVALID_ARGUMENT for an entry that is not a named tensor.
absl::StatusOr<std::map<std::string, torch::Tensor>> ReadWeightsArchive(absl::string_view bytes);

// Copies `stored` into the module's parameters and buffers. INVALID_ARGUMENT
// (the module unchanged) when a name is missing, a shape differs, or the
// counts differ; INTERNAL when LibTorch fails.
absl::Status LoadTensorsInto(torch::nn::Module& module,
                             const std::map<std::string, torch::Tensor>& stored);

// ReadWeightsArchive, then LoadTensorsInto, into a module built by hand
// (tests). Not what Model::LoadWeights does: that reads the archive itself
// and first installs or drops the embedding head and drops the decoder of
// an encoder-only checkpoint, then calls LoadTensorsInto.
absl::Status LoadWeightsInto(torch::nn::Module& module, absl::string_view bytes);

}  // namespace latentsearch::model

#endif  // LATENTSEARCH_COMMON_MODEL_WEIGHTS_IO_H_
