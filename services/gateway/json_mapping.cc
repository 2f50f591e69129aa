#include "services/gateway/json_mapping.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/type.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/type_resolver.h"
#include "google/protobuf/util/type_resolver_util.h"
#include "latentsearch/v1/search.pb.h"
#include "services/gateway/search_json.h"

namespace latentsearch::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

absl::Status BadValue(absl::string_view path, absl::string_view value, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("parameter '", path, "': '", value, "' is not ", what));
}

// Sets one value of `field` (singular: set; repeated: add).
absl::Status SetOne(Message* m, const FieldDescriptor* f, absl::string_view path,
                    absl::string_view v) {
  const Reflection* r = m->GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      if (f->type() == FieldDescriptor::TYPE_BYTES) {
        return absl::InvalidArgumentError(
            absl::StrCat("parameter '", path, "' carries bytes: send it in the body"));
      }
      rep ? r->AddString(m, f, std::string(v)) : r->SetString(m, f, std::string(v));
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t x;
      if (!absl::SimpleAtoi(v, &x)) return BadValue(path, v, "a 32-bit integer");
      rep ? r->AddInt32(m, f, x) : r->SetInt32(m, f, x);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      uint32_t x;
      if (!absl::SimpleAtoi(v, &x)) return BadValue(path, v, "an unsigned 32-bit integer");
      rep ? r->AddUInt32(m, f, x) : r->SetUInt32(m, f, x);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t x;
      if (!absl::SimpleAtoi(v, &x)) return BadValue(path, v, "a 64-bit integer");
      rep ? r->AddInt64(m, f, x) : r->SetInt64(m, f, x);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t x;
      if (!absl::SimpleAtoi(v, &x)) return BadValue(path, v, "an unsigned 64-bit integer");
      rep ? r->AddUInt64(m, f, x) : r->SetUInt64(m, f, x);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_FLOAT: {
      float x;
      if (!absl::SimpleAtof(v, &x)) return BadValue(path, v, "a number");
      rep ? r->AddFloat(m, f, x) : r->SetFloat(m, f, x);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      double x;
      if (!absl::SimpleAtod(v, &x)) return BadValue(path, v, "a number");
      rep ? r->AddDouble(m, f, x) : r->SetDouble(m, f, x);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool x;
      if (!absl::SimpleAtob(v, &x)) return BadValue(path, v, "true or false");
      rep ? r->AddBool(m, f, x) : r->SetBool(m, f, x);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const auto* e = f->enum_type()->FindValueByName(std::string(v));
      int number = 0;
      if (e == nullptr && absl::SimpleAtoi(v, &number))
        e = f->enum_type()->FindValueByNumber(number);
      if (e == nullptr) {
        std::string names;
        for (int i = 0; i < f->enum_type()->value_count(); ++i) {
          absl::StrAppend(&names, i ? ", " : "", f->enum_type()->value(i)->name());
        }
        return BadValue(path, v, absl::StrCat("one of ", names));
      }
      rep ? r->AddEnum(m, f, e) : r->SetEnum(m, f, e);
      return absl::OkStatus();
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("parameter '", path, "' names a message: give one of its fields"));
  }
}

// The field at the end of `path`, descending into (and creating) nested
// messages of `*m`; *m is moved to the message holding the field.
const FieldDescriptor* Walk(Message** m, absl::string_view path, std::string* error) {
  std::vector<absl::string_view> parts = absl::StrSplit(path, '.');
  for (size_t i = 0; i < parts.size(); ++i) {
    const FieldDescriptor* f = (*m)->GetDescriptor()->FindFieldByName(std::string(parts[i]));
    if (f == nullptr) f = (*m)->GetDescriptor()->FindFieldByCamelcaseName(std::string(parts[i]));
    if (f == nullptr) {
      *error = absl::StrCat("unknown parameter '", path, "' (", (*m)->GetDescriptor()->name(),
                            " has no field '", parts[i], "')");
      return nullptr;
    }
    if (i + 1 == parts.size()) return f;
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || f->is_repeated()) {
      *error = absl::StrCat("parameter '", path, "': '", parts[i], "' has no fields to set");
      return nullptr;
    }
    *m = (*m)->GetReflection()->MutableMessage(*m, f);
  }
  *error = "empty parameter name";
  return nullptr;
}

constexpr char kTypeUrlPrefix[] = "type.googleapis.com";

// protobuf's JSON conversion (JsonStringToMessage and MessageToJsonString
// are thin wrappers of JsonToBinaryString / BinaryToJsonString over the
// generated pool's type resolver) asks the resolver for every message and
// enum type it meets, on every call, and the stock resolver rebuilds each
// google.protobuf.Type from its descriptor each time. This one keeps what it
// built: the same conversion, without rebuilding types per request.
class CachingTypeResolver final : public google::protobuf::util::TypeResolver {
 public:
  CachingTypeResolver()
      : inner_(google::protobuf::util::NewTypeResolverForDescriptorPool(
            kTypeUrlPrefix, google::protobuf::DescriptorPool::generated_pool())) {}

  google::protobuf::util::Status ResolveMessageType(const std::string& url,
                                                    google::protobuf::Type* type) override {
    {
      absl::ReaderMutexLock l(&mu_);
      auto it = types_.find(url);
      if (it != types_.end()) {
        *type = it->second;
        return google::protobuf::util::Status();
      }
    }
    google::protobuf::util::Status s = inner_->ResolveMessageType(url, type);
    if (s.ok()) {
      absl::MutexLock l(&mu_);
      types_.emplace(url, *type);
    }
    return s;
  }

  google::protobuf::util::Status ResolveEnumType(const std::string& url,
                                                 google::protobuf::Enum* type) override {
    {
      absl::ReaderMutexLock l(&mu_);
      auto it = enums_.find(url);
      if (it != enums_.end()) {
        *type = it->second;
        return google::protobuf::util::Status();
      }
    }
    google::protobuf::util::Status s = inner_->ResolveEnumType(url, type);
    if (s.ok()) {
      absl::MutexLock l(&mu_);
      enums_.emplace(url, *type);
    }
    return s;
  }

 private:
  const std::unique_ptr<google::protobuf::util::TypeResolver> inner_;
  absl::Mutex mu_;
  std::map<std::string, google::protobuf::Type> types_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, google::protobuf::Enum> enums_ ABSL_GUARDED_BY(mu_);
};

CachingTypeResolver* Resolver() {
  static CachingTypeResolver* resolver = new CachingTypeResolver();
  return resolver;
}

std::string TypeUrl(const Message& message) {
  return absl::StrCat(kTypeUrlPrefix, "/", message.GetDescriptor()->full_name());
}

}  // namespace

absl::Status MergeJson(absl::string_view body, Message* message) {
  if (auto* search = google::protobuf::DynamicCastToGenerated<v1::SearchRequest>(message);
      search != nullptr && MergeSearchRequestJson(body, search)) {
    return absl::OkStatus();
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  std::string binary;
  auto status = google::protobuf::util::JsonToBinaryString(Resolver(), TypeUrl(*message),
                                                           std::string(body), &binary, options);
  if (status.ok() && !message->MergeFromString(binary)) {
    status = google::protobuf::util::Status(google::protobuf::util::StatusCode::kInvalidArgument,
                                            "the converted message does not parse");
  }
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("the JSON body is not a valid ",
                                                   message->GetDescriptor()->full_name(), ": ",
                                                   std::string(status.message())));
  }
  return absl::OkStatus();
}

std::string ToJson(const Message& message) {
  std::string out;
  if (const auto* search = google::protobuf::DynamicCastToGenerated<v1::SearchResponse>(&message);
      search != nullptr && AppendSearchResponseJson(*search, &out)) {
    return out;
  }
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::BinaryToJsonString(Resolver(), TypeUrl(message),
                                                   message.SerializeAsString(), &out, options);
  return out;
}

absl::Status SetField(Message* message, absl::string_view path,
                      const std::vector<std::string>& values) {
  std::string error;
  Message* holder = message;
  const FieldDescriptor* f = Walk(&holder, path, &error);
  if (f == nullptr) return absl::InvalidArgumentError(error);
  std::vector<std::string> split;
  for (const std::string& v : values) {
    if (f->is_repeated()) {
      for (absl::string_view part : absl::StrSplit(v, ',', absl::SkipEmpty())) {
        split.emplace_back(absl::StripAsciiWhitespace(part));
      }
    } else {
      split.push_back(v);
    }
  }
  if (!f->is_repeated() && split.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameter '", path, "' takes one value, got ", split.size()));
  }
  if (!f->is_repeated()) holder->GetReflection()->ClearField(holder, f);
  for (const std::string& v : split) {
    if (absl::Status s = SetOne(holder, f, path, v); !s.ok()) return s;
  }
  return absl::OkStatus();
}

bool HasFieldPath(const Descriptor* descriptor, absl::string_view path) {
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    if (descriptor == nullptr) return false;
    const FieldDescriptor* f = descriptor->FindFieldByName(std::string(part));
    if (f == nullptr) return false;
    descriptor = f->message_type();
  }
  return true;
}

}  // namespace latentsearch::gateway
