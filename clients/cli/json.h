// A minimal streaming JSON writer for the CLI's --json output (no JSON
// library in the dependency set). Commas are inserted automatically;
// strings are escaped; non-finite doubles are written as null.
// Thread-safety: thread-compatible.
#ifndef LATENTSEARCH_CLIENTS_CLI_JSON_H_
#define LATENTSEARCH_CLIENTS_CLI_JSON_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace latentsearch::cli {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  // In an object: the next value's key.
  JsonWriter& Key(absl::string_view key);
  JsonWriter& String(absl::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Double(double value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();

  const std::string& str() const { return out_; }

  // `s` as a quoted JSON string.
  static std::string Quote(absl::string_view s);

 private:
  void BeforeValue();
  std::string out_;
  // Per open container: whether it already holds an element.
  std::vector<bool> has_element_;
  bool after_key_ = false;
};

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_JSON_H_
