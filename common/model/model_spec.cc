// Spec parsing and validation, formulation names and the summary table
// (model_spec.h). No LibTorch: each architecture's input limits live in the
// table below, its builder in architectures.cc under the same name.
#include "common/model/model_spec.h"

#include <cstring>
#include <functional>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace latentsearch::model {
namespace {

constexpr int kDefaultLatent = 10;

// Checks an input shape against an architecture's limits; "" when fine,
// else what is allowed.
using InputCheck = std::function<std::string(const InputShape&)>;

std::string CheckResNetInput(const InputShape& s) {
  if (s.height < 8 || s.width < 8 || s.height > 1024 || s.width > 1024) {
    return "resnet needs height and width in 8..1024";
  }
  return "";
}

// Every architecture by name (architectures.cc has a builder for each).
const std::map<std::string, InputCheck>& InputChecks() {
  static const auto* checks = new std::map<std::string, InputCheck>{
      {"seed",
       [](const InputShape& s) -> std::string {
         if (s.height % 16 != 0 || s.width % 16 != 0 || s.height < 16 || s.width < 16 ||
             s.height > 256 || s.width > 256) {
           return "seed needs height and width that are multiples of 16 in "
                  "16..256 (e.g. 32x32; resize smaller images such as "
                  "Fashion-MNIST's 28x28 to 32x32)";
         }
         return "";
       }},
      {"conv",
       [](const InputShape& s) -> std::string {
         if (s.height < 8 || s.width < 8 || s.height > 1024 || s.width > 1024) {
           return "conv needs height and width in 8..1024";
         }
         return "";
       }},
      {"resnet", CheckResNetInput},
      {"resnet_small", CheckResNetInput},
  };
  return *checks;
}

// 1234567 → "1,234,567".
std::string Thousands(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return v < 0 ? "-" + out : out;
}

}  // namespace

std::string FormatInputShape(const InputShape& s) {
  return absl::StrCat(s.height, "x", s.width, "x", s.channels);
}

absl::StatusOr<InputShape> ParseInputShape(absl::string_view text) {
  std::vector<std::string> parts = absl::StrSplit(text, 'x');
  InputShape s;
  int* fields[] = {&s.height, &s.width, &s.channels};
  if (parts.size() == 2) s.channels = 3;
  if (parts.size() < 2 || parts.size() > 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("input shape '", text, "' is not HxWxC (e.g. 32x32x3) or HxW"));
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!absl::SimpleAtoi(parts[i], fields[i]) || *fields[i] <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("input shape '", text, "': '", parts[i], "' is not a positive integer"));
    }
  }
  return s;
}

std::vector<std::string> ArchitectureNames() {
  std::vector<std::string> names;
  for (const auto& [name, check] : InputChecks()) names.push_back(name);
  return names;
}

ModelSpec WithDefaults(const ModelSpec& spec) {
  ModelSpec s = spec;
  if (s.architecture.empty()) s.architecture = kDefaultArchitecture;
  if (s.latent_size == 0) s.latent_size = kDefaultLatent;
  if (s.input.height == 0) s.input.height = 32;
  if (s.input.width == 0) s.input.width = 32;
  if (s.input.channels == 0) s.input.channels = 3;
  return s;
}

absl::Status ValidateSpec(const ModelSpec& spec_in) {
  const ModelSpec spec = WithDefaults(spec_in);
  auto it = InputChecks().find(spec.architecture);
  if (it == InputChecks().end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("architecture: unknown architecture '", spec.architecture,
                     "'; known: ", absl::StrJoin(ArchitectureNames(), ", ")));
  }
  if (spec.latent_size < 1 || spec.latent_size > kMaxLatentSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("latent_size: ", spec.latent_size, " is outside 1..", kMaxLatentSize));
  }
  if (spec.input.channels != 1 && spec.input.channels != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("input_shape: ", spec.input.channels, " channels; allowed: 1 or 3"));
  }
  std::string why = it->second(spec.input);
  if (!why.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("input_shape: ", FormatInputShape(spec.input),
                                                   " does not suit '", spec.architecture,
                                                   "': ", why));
  }
  return absl::OkStatus();
}

absl::string_view FormulationName(Formulation f) {
  switch (f) {
    case Formulation::kPlain:
      return "plain";
    case Formulation::kPhaseConv:
      return "phase_conv";
    case Formulation::kPhaseSplit:
      return "phase_split";
  }
  return "?";
}

absl::StatusOr<Formulation> ParseFormulation(absl::string_view name) {
  for (Formulation f : {Formulation::kPlain, Formulation::kPhaseConv, Formulation::kPhaseSplit}) {
    if (name == FormulationName(f)) return f;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("formulation '", name, "'; allowed: plain, phase_conv, phase_split"));
}

std::string FormatSummary(const ModelSummary& m) {
  std::string out =
      absl::StrFormat("Model: %s  latent %d  input %s (H x W x C)\n", m.spec.architecture,
                      m.spec.latent_size, FormatInputShape(m.spec.input));
  const std::string rule(120, '-');
  absl::StrAppendFormat(&out, "%s\n%-8s %-20s %-56s %-16s %12s %14s\n%s\n", rule, "Part", "Layer",
                        "Type", "Output (C,H,W)", "Params", "MACs/image", rule);
  for (const LayerInfo& l : m.layers) {
    std::string shape = absl::StrCat("(", absl::StrJoin(l.output_shape, ", "), ")");
    // Kind strings contain "→" (3 bytes, 1 column): pad by columns.
    int extra = 0;
    for (size_t i = 0; i + 2 < l.kind.size(); ++i) {
      if (std::memcmp(l.kind.data() + i, "→", 3) == 0) extra += 2;
    }
    absl::StrAppendFormat(&out, "%-8s %-20s %-*s %-16s %12s %14s\n", l.part, l.name, 56 + extra,
                          l.kind, shape, Thousands(l.parameters), Thousands(l.macs));
  }
  absl::StrAppendFormat(&out,
                        "%s\nEncoder: %s parameters, %s MACs/image\nDecoder: %s parameters, %s "
                        "MACs/image\nTotal:   %s parameters, %s MACs/image forward "
                        "(~%.3g GFLOP/image for a training step: 3 x 2 x MACs)\n",
                        rule, Thousands(m.encoder_parameters), Thousands(m.encoder_macs),
                        Thousands(m.decoder_parameters), Thousands(m.decoder_macs),
                        Thousands(m.encoder_parameters + m.decoder_parameters),
                        Thousands(m.encoder_macs + m.decoder_macs),
                        6.0 * static_cast<double>(m.encoder_macs + m.decoder_macs) / 1e9);
  return out;
}

}  // namespace latentsearch::model
