// The hand-written Search JSON (search_json.h): the descriptor check, a
// strict JSON reader for SearchRequest and a writer for SearchResponse with
// protobuf's escaping and float text.
// Thread-safety: pure functions (the descriptor check runs once, under a
// function-local static).
#include "services/gateway/search_json.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/base/logging.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/stubs/strutil.h"
#include "google/protobuf/unknown_field_set.h"

namespace latentsearch::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// ---------------------------------------------------------------------------
// The descriptors this file was written for.

struct FieldSpec {
  const char* name;
  int number;
  FieldDescriptor::Type type;
  bool repeated;
};

// protobuf's default JSON name of a field: "index_kind" -> "indexKind".
std::string LowerCamel(absl::string_view name) {
  std::string out;
  bool upper = false;
  for (const char c : name) {
    if (c == '_') {
      upper = true;
    } else {
      out.push_back(upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
      upper = false;
    }
  }
  return out;
}

// True when `d` has exactly `fields`, in this order (the JSON printer's
// order is the declaration order), with their default JSON names (the keys
// read and written here).
bool Matches(const Descriptor* d, const std::vector<FieldSpec>& fields) {
  if (d->field_count() != static_cast<int>(fields.size())) return false;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const FieldSpec& s = fields[i];
    if (f->name() != s.name || f->number() != s.number || f->type() != s.type ||
        f->is_repeated() != s.repeated || f->json_name() != LowerCamel(s.name)) {
      return false;
    }
  }
  return true;
}

bool CheckDescriptors() {
  using F = FieldDescriptor;
  const bool request =
      Matches(v1::SearchRequest::descriptor(), {{"collection", 1, F::TYPE_STRING, false},
                                                {"vector", 2, F::TYPE_MESSAGE, false},
                                                {"image", 3, F::TYPE_MESSAGE, false},
                                                {"item_id", 4, F::TYPE_STRING, false},
                                                {"metric", 5, F::TYPE_ENUM, false},
                                                {"index_kind", 6, F::TYPE_ENUM, false},
                                                {"k", 7, F::TYPE_UINT32, false},
                                                {"ef", 8, F::TYPE_UINT32, false},
                                                {"labels", 9, F::TYPE_INT32, true},
                                                {"exclude_self", 10, F::TYPE_BOOL, false},
                                                {"include_vectors", 11, F::TYPE_BOOL, false},
                                                {"allow_partial", 12, F::TYPE_BOOL, false}}) &&
      Matches(v1::Vector::descriptor(), {{"values", 1, F::TYPE_FLOAT, true}});
  const bool response =
      Matches(v1::SearchResponse::descriptor(), {{"neighbors", 1, F::TYPE_MESSAGE, true},
                                                 {"metric", 2, F::TYPE_ENUM, false},
                                                 {"index_kind", 3, F::TYPE_ENUM, false},
                                                 {"model", 4, F::TYPE_MESSAGE, false},
                                                 {"ef", 5, F::TYPE_UINT32, false},
                                                 {"exact_fallback", 6, F::TYPE_BOOL, false},
                                                 {"took_micros", 7, F::TYPE_UINT64, false},
                                                 {"partial", 8, F::TYPE_BOOL, false},
                                                 {"missing_shards", 9, F::TYPE_UINT32, true}}) &&
      Matches(v1::Neighbor::descriptor(), {{"id", 1, F::TYPE_STRING, false},
                                           {"distance", 2, F::TYPE_FLOAT, false},
                                           {"label", 3, F::TYPE_INT32, false},
                                           {"uri", 4, F::TYPE_STRING, false},
                                           {"vector", 5, F::TYPE_FLOAT, true}}) &&
      Matches(v1::ModelRef::descriptor(),
              {{"name", 1, F::TYPE_STRING, false}, {"version", 2, F::TYPE_UINT64, false}});
  if (!request || !response) {
    LOG(WARNING) << "search.proto's SearchRequest/SearchResponse changed: the gateway's "
                    "hand-written Search JSON (search_json.cc) is off and protobuf's JSON "
                    "mapping serves the route (slower); update search_json.cc";
  }
  return request && response;
}

// ---------------------------------------------------------------------------
// Reading: a cursor over the body that accepts only the subset above.

class Reader {
 public:
  explicit Reader(absl::string_view s) : p_(s.data()), end_(s.data() + s.size()) {}

  void SkipSpace() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool Eat(char c) {
    SkipSpace();
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }
  bool AtEnd() {
    SkipSpace();
    return p_ == end_;
  }
  // A string of printable ASCII without escapes.
  bool String(absl::string_view* s) {
    if (!Eat('"')) return false;
    const char* begin = p_;
    for (; p_ < end_ && *p_ != '"'; ++p_) {
      const unsigned char c = static_cast<unsigned char>(*p_);
      if (c < 0x20 || c > 0x7e || c == '\\') return false;
    }
    if (p_ == end_) return false;
    *s = absl::string_view(begin, p_ - begin);
    ++p_;
    return true;
  }
  bool Bool(bool* b) {
    SkipSpace();
    if (Word("true")) return *b = true;
    if (Word("false")) return !(*b = false);
    return false;
  }
  // A number in JSON's grammar; `integral` when it has neither a fraction
  // nor an exponent.
  bool Number(absl::string_view* token, bool* integral) {
    SkipSpace();
    const char* begin = p_;
    if (p_ < end_ && *p_ == '-') ++p_;
    if (p_ < end_ && *p_ == '0') {
      ++p_;
    } else if (!Digits()) {
      return false;
    }
    *integral = true;
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      *integral = false;
      if (!Digits()) return false;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      *integral = false;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (!Digits()) return false;
    }
    *token = absl::string_view(begin, p_ - begin);
    return true;
  }

 private:
  bool Digits() {
    const char* begin = p_;
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    return p_ != begin;
  }
  bool Word(absl::string_view w) {
    if (static_cast<size_t>(end_ - p_) < w.size() || absl::string_view(p_, w.size()) != w) {
      return false;
    }
    p_ += w.size();
    return true;
  }

  const char* p_;
  const char* end_;
};

// protobuf parses an integer-form number as an int64 and converts it; any
// other form through strtod, refusing doubles beyond float's range. Only
// the cases where that conversion is one plain cast are taken here.
bool ToFloat(absl::string_view token, bool integral, float* out) {
  const char* first = token.data();
  const char* last = first + token.size();
  if (integral) {
    if (token.size() - (token[0] == '-') > 15) return false;
    int64_t v = 0;
    if (std::from_chars(first, last, v).ec != std::errc()) return false;
    *out = static_cast<float>(v);
    return true;
  }
  double d = 0;
  const std::from_chars_result r = std::from_chars(first, last, d);
  if (r.ec != std::errc() || r.ptr != last) return false;
  if (std::fabs(d) > std::numeric_limits<float>::max()) return false;
  *out = static_cast<float>(d);
  return true;
}

template <typename Int>
bool ToInt(absl::string_view token, bool integral, Int* out) {
  if (!integral) return false;
  if (std::is_unsigned<Int>::value && token[0] == '-') return false;
  const std::from_chars_result r = std::from_chars(token.data(), token.data() + token.size(), *out);
  return r.ec == std::errc() && r.ptr == token.data() + token.size();
}

bool ReadFloat(Reader& r, float* out) {
  absl::string_view token;
  bool integral = false;
  return r.Number(&token, &integral) && ToFloat(token, integral, out);
}

template <typename Int>
bool ReadInt(Reader& r, Int* out) {
  absl::string_view token;
  bool integral = false;
  return r.Number(&token, &integral) && ToInt(token, integral, out);
}

// `[a, b, ...]` of numbers read by `read_one`.
template <typename ReadOne>
bool ReadArray(Reader& r, ReadOne read_one) {
  if (!r.Eat('[')) return false;
  if (r.Eat(']')) return true;
  do {
    if (!read_one()) return false;
  } while (r.Eat(','));
  return r.Eat(']');
}

// `{"values": [...]}` or `{}`.
bool ReadVector(Reader& r, v1::Vector* v) {
  if (!r.Eat('{')) return false;
  if (r.Eat('}')) return true;
  absl::string_view key;
  if (!r.String(&key) || key != "values" || !r.Eat(':')) return false;
  auto* values = v->mutable_values();
  values->Reserve(64);
  if (!ReadArray(r, [&] {
        float x;
        if (!ReadFloat(r, &x)) return false;
        values->Add(x);
        return true;
      })) {
    return false;
  }
  return r.Eat('}');
}

template <typename Enum, typename Parse>
bool ReadEnum(Reader& r, Parse parse, Enum* out) {
  absl::string_view name;
  return r.String(&name) && parse(std::string(name), out);
}

enum Key {
  kCollection,
  kVector,
  kItemId,
  kMetric,
  kIndexKind,
  kK,
  kEf,
  kLabels,
  kExcludeSelf,
  kIncludeVectors,
  kAllowPartial,
  kUnknown
};

// Keys by their JSON name or their proto name, as protobuf's parser takes
// both.
Key KeyOf(absl::string_view key) {
  struct Name {
    absl::string_view json, proto;
    Key key;
  };
  static constexpr Name kNames[] = {{"collection", "collection", kCollection},
                                    {"vector", "vector", kVector},
                                    {"itemId", "item_id", kItemId},
                                    {"metric", "metric", kMetric},
                                    {"indexKind", "index_kind", kIndexKind},
                                    {"k", "k", kK},
                                    {"ef", "ef", kEf},
                                    {"labels", "labels", kLabels},
                                    {"excludeSelf", "exclude_self", kExcludeSelf},
                                    {"includeVectors", "include_vectors", kIncludeVectors},
                                    {"allowPartial", "allow_partial", kAllowPartial}};
  for (const Name& n : kNames) {
    if (key == n.json || key == n.proto) return n.key;
  }
  return kUnknown;
}

bool ReadField(Reader& r, Key key, v1::SearchRequest* m) {
  absl::string_view s;
  bool b = false;
  switch (key) {
    case kCollection:
      return r.String(&s) && (m->set_collection(std::string(s)), true);
    case kVector:
      return ReadVector(r, m->mutable_vector());
    case kItemId:
      return r.String(&s) && (m->set_item_id(std::string(s)), true);
    case kMetric: {
      v1::Metric v;
      return ReadEnum(r, v1::Metric_Parse, &v) && (m->set_metric(v), true);
    }
    case kIndexKind: {
      v1::IndexKind v;
      return ReadEnum(r, v1::IndexKind_Parse, &v) && (m->set_index_kind(v), true);
    }
    case kK: {
      uint32_t v;
      return ReadInt(r, &v) && (m->set_k(v), true);
    }
    case kEf: {
      uint32_t v;
      return ReadInt(r, &v) && (m->set_ef(v), true);
    }
    case kLabels:
      return ReadArray(r, [&] {
        int32_t v;
        return ReadInt(r, &v) && (m->add_labels(v), true);
      });
    case kExcludeSelf:
      return r.Bool(&b) && (m->set_exclude_self(b), true);
    case kIncludeVectors:
      return r.Bool(&b) && (m->set_include_vectors(b), true);
    case kAllowPartial:
      return r.Bool(&b) && (m->set_allow_partial(b), true);
    case kUnknown:
      break;
  }
  return false;
}

// ---------------------------------------------------------------------------
// Writing.

bool HasUnknownFields(const google::protobuf::Message& m) {
  return !m.GetReflection()->GetUnknownFields(m).empty();
}

// A JSON string as protobuf's JsonEscaping writes it, for printable ASCII
// ('<' and '>' as \u003c and \u003e); false for anything else.
bool AppendString(absl::string_view s, std::string* out) {
  out->push_back('"');
  for (const char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e) return false;
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '<':
        out->append("\\u003c");
        break;
      case '>':
        out->append("\\u003e");
        break;
      default:
        out->push_back(c);
    }
  }
  out->push_back('"');
  return true;
}

// A float field's value: a number, or "NaN" / "Infinity" / "-Infinity"
// quoted, as protobuf prints them.
void AppendFloatValue(float v, std::string* out) {
  if (std::isnan(v)) {
    out->append("\"NaN\"");
  } else if (std::isinf(v)) {
    out->append(v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  } else {
    AppendJsonFloat(v, out);
  }
}

template <typename Enum, typename IsValid, typename NameOf>
void AppendEnum(Enum v, IsValid is_valid, NameOf name_of, std::string* out) {
  if (is_valid(v)) {
    out->push_back('"');
    out->append(name_of(v));
    out->push_back('"');
  } else {
    absl::StrAppend(out, static_cast<int>(v));
  }
}

bool AppendNeighbor(const v1::Neighbor& n, std::string* out) {
  if (HasUnknownFields(n)) return false;
  out->append("{\"id\":");
  if (!AppendString(n.id(), out)) return false;
  out->append(",\"distance\":");
  AppendFloatValue(n.distance(), out);
  absl::StrAppend(out, ",\"label\":", n.label(), ",\"uri\":");
  if (!AppendString(n.uri(), out)) return false;
  out->append(",\"vector\":[");
  for (int i = 0; i < n.vector_size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendFloatValue(n.vector(i), out);
  }
  out->append("]}");
  return true;
}

bool AppendResponse(const v1::SearchResponse& r, std::string* out) {
  if (HasUnknownFields(r)) return false;
  out->append("{\"neighbors\":[");
  for (int i = 0; i < r.neighbors_size(); ++i) {
    if (i > 0) out->push_back(',');
    if (!AppendNeighbor(r.neighbors(i), out)) return false;
  }
  out->append("],\"metric\":");
  AppendEnum(r.metric(), v1::Metric_IsValid, v1::Metric_Name<v1::Metric>, out);
  out->append(",\"indexKind\":");
  AppendEnum(r.index_kind(), v1::IndexKind_IsValid, v1::IndexKind_Name<v1::IndexKind>, out);
  if (r.has_model()) {
    if (HasUnknownFields(r.model())) return false;
    out->append(",\"model\":{\"name\":");
    if (!AppendString(r.model().name(), out)) return false;
    absl::StrAppend(out, ",\"version\":\"", r.model().version(), "\"}");
  }
  absl::StrAppend(out, ",\"ef\":", r.ef(),
                  ",\"exactFallback\":", r.exact_fallback() ? "true" : "false",
                  ",\"tookMicros\":\"", r.took_micros(),
                  "\",\"partial\":", r.partial() ? "true" : "false", ",\"missingShards\":[");
  for (int i = 0; i < r.missing_shards_size(); ++i) {
    absl::StrAppend(out, i > 0 ? "," : "", r.missing_shards(i));
  }
  out->append("]}");
  return true;
}

}  // namespace

bool FastSearchJsonEnabled() {
  static const bool enabled = CheckDescriptors();
  return enabled;
}

bool MergeSearchRequestJson(absl::string_view body, v1::SearchRequest* message) {
  // Into a non-empty message protobuf's path (binary merge) also applies
  // explicit zeros, which MergeFrom skips: leave that case to it.
  if (!FastSearchJsonEnabled() || message->ByteSizeLong() != 0) return false;
  Reader r(body);
  v1::SearchRequest m;
  uint32_t seen = 0;
  if (!r.Eat('{')) return false;
  if (!r.Eat('}')) {
    do {
      absl::string_view name;
      if (!r.String(&name) || !r.Eat(':')) return false;
      const Key key = KeyOf(name);
      if (key == kUnknown || (seen & (1u << key)) != 0) return false;
      seen |= 1u << key;
      if (!ReadField(r, key, &m)) return false;
    } while (r.Eat(','));
    if (!r.Eat('}')) return false;
  }
  if (!r.AtEnd()) return false;
  if ((seen & (1u << kVector)) != 0 && (seen & (1u << kItemId)) != 0) return false;
  message->MergeFrom(m);
  return true;
}

bool AppendSearchResponseJson(const v1::SearchResponse& response, std::string* out) {
  if (!FastSearchJsonEnabled()) return false;
  const size_t size = out->size();
  out->reserve(size + 160 + 96 * response.neighbors_size());
  if (AppendResponse(response, out)) return true;
  out->resize(size);
  return false;
}

void AppendJsonFloat(float value, std::string* out) {
  // Subnormals: protobuf's read-back check (strtof) reports ERANGE for
  // them, which from_chars does not; let protobuf print them itself.
  if (value != 0 && std::fabs(value) < std::numeric_limits<float>::min()) {
    out->append(google::protobuf::SimpleFtoa(value));
    return;
  }
  char buf[32];
  std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::general,
                                         std::numeric_limits<float>::digits10);
  float back = 0;
  const std::from_chars_result b = std::from_chars(buf, r.ptr, back);
  if (b.ec != std::errc() || back != value) {
    r = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::general,
                      std::numeric_limits<float>::digits10 + 3);
  }
  out->append(buf, r.ptr);
}

}  // namespace latentsearch::gateway
