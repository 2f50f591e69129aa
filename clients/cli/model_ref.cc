#include "clients/cli/model_ref.h"

#include "absl/strings/str_cat.h"

namespace latentsearch::cli {

std::string ModelText(const v1::ModelRef& model) {
  return absl::StrCat(model.name().empty() ? "default" : model.name(), " v", model.version());
}

void ModelJson(const v1::ModelRef& model, JsonWriter* w) {
  w->BeginObject();
  w->Key("name").String(model.name());
  w->Key("version").Int(model.version());
  w->EndObject();
}

}  // namespace latentsearch::cli
