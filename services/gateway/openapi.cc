#include "services/gateway/openapi.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/struct.pb.h"
#include "services/gateway/json_mapping.h"
#include "services/gateway/routes.h"

namespace latentsearch::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Struct;
using google::protobuf::Value;

Value S(const std::string& s) {
  Value v;
  v.set_string_value(s);
  return v;
}
Value B(bool b) {
  Value v;
  v.set_bool_value(b);
  return v;
}
Value Obj(Struct s) {
  Value v;
  *v.mutable_struct_value() = std::move(s);
  return v;
}
Struct Ref(const Descriptor* d) {
  Struct s;
  (*s.mutable_fields())["$ref"] = S(absl::StrCat("#/components/schemas/", d->full_name()));
  return s;
}

Struct ErrorRef() {
  Struct s;
  (*s.mutable_fields())["$ref"] = S("#/components/schemas/Error");
  return s;
}

class SchemaBuilder {
 public:
  // A schema for `d` ($ref, adding it and what it reaches to the
  // components).
  Struct RefTo(const Descriptor* d) {
    if (d->full_name() == "google.protobuf.Timestamp") return Scalar("string", "date-time");
    Add(d);
    return Ref(d);
  }
  Struct& schemas() { return schemas_; }

 private:
  static Struct Scalar(const char* type, const char* format = nullptr) {
    Struct s;
    (*s.mutable_fields())["type"] = S(type);
    if (format != nullptr) (*s.mutable_fields())["format"] = S(format);
    return s;
  }

  Struct FieldSchema(const FieldDescriptor* f) {
    Struct s;
    switch (f->type()) {
      case FieldDescriptor::TYPE_MESSAGE:
        s = RefTo(f->message_type());
        break;
      case FieldDescriptor::TYPE_ENUM: {
        s = Scalar("string");
        auto* values = (*s.mutable_fields())["enum"].mutable_list_value();
        for (int i = 0; i < f->enum_type()->value_count(); ++i) {
          *values->add_values() = S(f->enum_type()->value(i)->name());
        }
        break;
      }
      case FieldDescriptor::TYPE_STRING:
        s = Scalar("string");
        break;
      case FieldDescriptor::TYPE_BYTES:
        s = Scalar("string", "byte");
        break;
      case FieldDescriptor::TYPE_BOOL:
        s = Scalar("boolean");
        break;
      case FieldDescriptor::TYPE_FLOAT:
        s = Scalar("number", "float");
        break;
      case FieldDescriptor::TYPE_DOUBLE:
        s = Scalar("number", "double");
        break;
      case FieldDescriptor::TYPE_INT64:
      case FieldDescriptor::TYPE_SINT64:
      case FieldDescriptor::TYPE_SFIXED64:
        s = Scalar("string", "int64");
        break;
      case FieldDescriptor::TYPE_UINT64:
      case FieldDescriptor::TYPE_FIXED64:
        s = Scalar("string", "uint64");
        break;
      case FieldDescriptor::TYPE_UINT32:
      case FieldDescriptor::TYPE_FIXED32:
        s = Scalar("integer", "uint32");
        break;
      default:
        s = Scalar("integer", "int32");
        break;
    }
    if (!f->is_repeated()) return s;
    Struct array = Scalar("array");
    (*array.mutable_fields())["items"] = Obj(std::move(s));
    return array;
  }

  void Add(const Descriptor* d) {
    if (!seen_.insert(d->full_name()).second) return;
    Struct schema = Scalar("object");
    Struct props;
    for (int i = 0; i < d->field_count(); ++i) {
      (*props.mutable_fields())[d->field(i)->json_name()] = Obj(FieldSchema(d->field(i)));
    }
    (*schema.mutable_fields())["properties"] = Obj(std::move(props));
    (*schemas_.mutable_fields())[d->full_name()] = Obj(std::move(schema));
  }

  std::set<std::string> seen_;
  Struct schemas_;
};

Struct Content(const char* type, Struct schema) {
  Struct media;
  (*media.mutable_fields())["schema"] = Obj(std::move(schema));
  Struct content;
  (*content.mutable_fields())[type] = Obj(std::move(media));
  return content;
}

Struct FreeForm() {
  Struct s;
  (*s.mutable_fields())["type"] = S("object");
  return s;
}

Struct Binary() {
  Struct s;
  (*s.mutable_fields())["type"] = S("string");
  (*s.mutable_fields())["format"] = S("binary");
  return s;
}

Struct Parameter(const std::string& name, const char* in, bool required) {
  Struct p;
  auto& f = *p.mutable_fields();
  f["name"] = S(name);
  f["in"] = S(in);
  f["required"] = B(required);
  Struct schema;
  (*schema.mutable_fields())["type"] = S("string");
  f["schema"] = Obj(std::move(schema));
  return p;
}

Struct Responses(const Route& r, SchemaBuilder& b) {
  Struct ok;
  (*ok.mutable_fields())["description"] = S("success");
  Struct content;
  switch (r.reply) {
    case Reply::kJson:
      content = Content("application/json", r.response ? b.RefTo(r.response) : FreeForm());
      break;
    case Reply::kPng:
      content = Content("image/png", Binary());
      break;
    case Reply::kOctetStream:
      content = Content("application/octet-stream", Binary());
      break;
    case Reply::kHtml:
      content = Content("text/html", Binary());
      break;
    case Reply::kEventStream: {
      Struct s;
      (*s.mutable_fields())["type"] = S("string");
      (*s.mutable_fields())["description"] =
          S(absl::StrCat("server-sent events; each data line is one ",
                         r.response ? r.response->full_name() : "object", " as JSON"));
      content = Content("text/event-stream", std::move(s));
      break;
    }
  }
  (*ok.mutable_fields())["content"] = Obj(std::move(content));
  Struct error;
  (*error.mutable_fields())["description"] =
      S("error: {\"error\": {\"code\": gRPC code name, \"http_status\", \"message\", "
        "\"service\"}}");
  (*error.mutable_fields())["content"] = Obj(Content("application/json", ErrorRef()));
  Struct responses;
  const bool accepted = std::string(r.operation) == "Gateway.StartEval";
  (*responses.mutable_fields())[accepted ? "202" : "200"] = Obj(std::move(ok));
  (*responses.mutable_fields())["default"] = Obj(std::move(error));
  return responses;
}

Struct Operation(const Route& r, SchemaBuilder& b) {
  Struct op;
  auto& f = *op.mutable_fields();
  f["operationId"] = S(r.operation);
  f["summary"] = S(r.summary);
  auto* tags = f["tags"].mutable_list_value();
  *tags->add_values() = S(BackendName(r.backend));
  if (*r.rpc != '\0') f["x-grpc-method"] = S(r.rpc);
  if (r.open) f["security"].mutable_list_value();
  auto* params = f["parameters"].mutable_list_value();
  std::set<std::string> in_path;
  for (const std::string& p : PathParams(r)) {
    in_path.insert(p);
    *params->add_values() = Obj(Parameter(p, "path", true));
  }
  const bool query_fields = r.request != nullptr && (r.body != Body::kJson);
  if (query_fields) {
    for (int i = 0; i < r.request->field_count(); ++i) {
      const FieldDescriptor* fd = r.request->field(i);
      if (in_path.count(fd->name()) || fd->type() == FieldDescriptor::TYPE_BYTES) continue;
      if (fd->type() == FieldDescriptor::TYPE_MESSAGE && fd->name() != "model") continue;
      if (fd->name() == "model") {
        if (!in_path.count("model.name")) {
          *params->add_values() = Obj(Parameter("model.name", "query", false));
        }
        *params->add_values() = Obj(Parameter("model.version", "query", false));
        continue;
      }
      *params->add_values() = Obj(Parameter(fd->name(), "query", false));
    }
  }
  if (r.body != Body::kNone) {
    Struct body;
    Struct content = Content("application/json", r.request ? b.RefTo(r.request) : FreeForm());
    if (r.body == Body::kJsonOrImage) {
      Struct form;
      (*form.mutable_fields())["type"] = S("object");
      Struct props;
      (*props.mutable_fields())[r.upload_field] = Obj(Binary());
      (*form.mutable_fields())["properties"] = Obj(std::move(props));
      (*content.mutable_fields())["multipart/form-data"] =
          Obj(Content("x", std::move(form)).fields().at("x").struct_value());
      (*content.mutable_fields())["image/*"] =
          Obj(Content("x", Binary()).fields().at("x").struct_value());
      (*content.mutable_fields())["application/octet-stream"] =
          Obj(Content("x", Binary()).fields().at("x").struct_value());
    }
    (*body.mutable_fields())["content"] = Obj(std::move(content));
    f["requestBody"] = Obj(std::move(body));
  }
  f["responses"] = Obj(Responses(r, b));
  return op;
}

Struct ErrorSchema() {
  Struct inner;
  (*inner.mutable_fields())["type"] = S("object");
  Struct props;
  for (const char* name : {"code", "message", "service"}) {
    Struct p;
    (*p.mutable_fields())["type"] = S("string");
    (*props.mutable_fields())[name] = Obj(std::move(p));
  }
  Struct status;
  (*status.mutable_fields())["type"] = S("integer");
  (*props.mutable_fields())["http_status"] = Obj(std::move(status));
  (*inner.mutable_fields())["properties"] = Obj(std::move(props));
  Struct outer;
  (*outer.mutable_fields())["type"] = S("object");
  Struct outer_props;
  (*outer_props.mutable_fields())["error"] = Obj(std::move(inner));
  (*outer.mutable_fields())["properties"] = Obj(std::move(outer_props));
  return outer;
}

std::string Build() {
  SchemaBuilder b;
  Struct paths;
  for (const Route& r : Routes()) {
    const std::string path = OpenApiPath(r.path);
    Value& item = (*paths.mutable_fields())[path];
    (*item.mutable_struct_value()->mutable_fields())[absl::AsciiStrToLower(r.method)] =
        Obj(Operation(r, b));
  }
  Struct doc;
  auto& f = *doc.mutable_fields();
  f["openapi"] = S("3.0.3");
  Struct info;
  (*info.mutable_fields())["title"] = S("latentsearch gateway");
  (*info.mutable_fields())["version"] = S("v1");
  (*info.mutable_fields())["description"] =
      S("HTTP/JSON over the latentsearch.v1 Trainer, Encoder and Search services "
        "(protobuf JSON mapping). docs/gateway.md.");
  f["info"] = Obj(std::move(info));
  f["paths"] = Obj(std::move(paths));
  Struct components;
  Struct schemas = b.schemas();
  (*schemas.mutable_fields())["Error"] = Obj(ErrorSchema());
  (*components.mutable_fields())["schemas"] = Obj(std::move(schemas));
  Struct bearer;
  (*bearer.mutable_fields())["type"] = S("http");
  (*bearer.mutable_fields())["scheme"] = S("bearer");
  Struct cookie;
  (*cookie.mutable_fields())["type"] = S("apiKey");
  (*cookie.mutable_fields())["in"] = S("cookie");
  (*cookie.mutable_fields())["name"] = S("ls_session");
  Struct schemes;
  (*schemes.mutable_fields())["bearer"] = Obj(std::move(bearer));
  (*schemes.mutable_fields())["session"] = Obj(std::move(cookie));
  (*components.mutable_fields())["securitySchemes"] = Obj(std::move(schemes));
  f["components"] = Obj(std::move(components));
  auto* security = f["security"].mutable_list_value();
  for (const char* scheme : {"bearer", "session"}) {
    Struct s;
    (*s.mutable_fields())[scheme].mutable_list_value();
    *security->add_values() = Obj(std::move(s));
  }
  return ToJson(doc);
}

}  // namespace

std::string OpenApiPath(const char* path) { return path; }

const std::string& OpenApiJson() {
  static const std::string* doc = new std::string(Build());
  return *doc;
}

}  // namespace latentsearch::gateway
