// A minimal streaming JSON writer for the CLI's --json output. Commas are
// inserted automatically; strings are escaped; doubles are written with 6
// significant digits ("%.6g", e.g. 0.0234644; 1 for 1.0) and non-finite
// ones as null. Protobuf messages (train/watch events, jobs) use
// protobuf's JSON mapping instead.
//
// Why not nlohmann::json (Debian nlohmann-json3-dev): its double output is the shortest
// round-trip form, so a float distance widened to double prints with up to
// 17 digits and a precision of 1 as 1.0; rounding to 6 digits first does not fix it, as
// its Grisu2 printer gives 17 digits for about 1 double in 1,600 that has
// a 6-digit form (measured: 1,870 of 2.95 M random values, e.g. -0.219985
// -> -0.21998500000000001). The CLI's output is pinned by golden files
// (tests/unit/cli/json_golden_test.cc); this writer keeps it.
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
  // `value` with exactly `decimals` digits after the point ("%.*f").
  JsonWriter& Fixed(double value, int decimals);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();

  const std::string& str() const { return out_; }

 private:
  void BeforeValue();
  std::string out_;
  // Per open container: whether it already holds an element.
  std::vector<bool> has_element_;
  bool after_key_ = false;
};

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_JSON_H_
