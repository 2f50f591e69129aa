// The etcd v3 HTTP/JSON gateway client (etcd_client.h).
// Thread-safety: calls share only the immutable options and an atomic
// index; each opens its own httplib::Client.
#include "common/cluster/etcd_client.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/base/logging.h"
#include "common/base/status_macros.h"
#include "etcd/etcd_gateway.pb.h"
#include "httplib.h"

namespace latentsearch::cluster {
namespace {

// google.rpc.Code UNAVAILABLE: etcd has no leader or is shutting down; the
// next endpoint may answer.
constexpr int kGrpcUnavailable = 14;

// Accepts [http://|https://]host:port (host not empty, port 1..65535).
absl::Status CheckEndpoint(const std::string& endpoint) {
  std::string rest = endpoint;
  for (const char* scheme : {"http://", "https://"}) {
    if (absl::StartsWith(rest, scheme)) rest = rest.substr(std::string(scheme).size());
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  const size_t colon = rest.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 || rest.find('/') != std::string::npos ||
      !absl::SimpleAtoi(rest.substr(colon + 1), &port) || port < 1 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd endpoint '", endpoint,
                     "' is not [http://|https://]host:port, e.g. http://127.0.0.1:2379"));
  }
  return absl::OkStatus();
}

// httplib wants the scheme, host and port only.
std::string BaseUrl(const std::string& endpoint) {
  std::string url = endpoint;
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (!absl::StartsWith(url, "http://") && !absl::StartsWith(url, "https://")) {
    url = "http://" + url;
  }
  return url;
}

void SetTimeouts(httplib::Client& client, absl::Duration timeout) {
  const int64_t us = std::max<int64_t>(1000, absl::ToInt64Microseconds(timeout));
  const time_t sec = static_cast<time_t>(us / 1000000);
  const time_t usec = static_cast<time_t>(us % 1000000);
  client.set_connection_timeout(sec, usec);
  client.set_read_timeout(sec, usec);
  client.set_write_timeout(sec, usec);
}

// httplib's error names ("Connection", "Read") made readable for logs.
std::string Describe(httplib::Error error) {
  switch (error) {
    case httplib::Error::Connection:
      return "cannot connect";
    case httplib::Error::ConnectionTimeout:
      return "connect timed out";
    case httplib::Error::Read:
      return "no answer: read failed or timed out";
    case httplib::Error::Write:
      return "sending failed or timed out";
    default:
      return absl::StrCat("HTTP client error: ", httplib::to_string(error));
  }
}

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("cannot write an etcd ", message.GetTypeName(),
                                            " as JSON: ", status.ToString()));
  }
  return json;
}

absl::Status FromJson(const std::string& json, google::protobuf::Message* message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  const auto status = google::protobuf::util::JsonStringToMessage(json, message, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("etcd answered a ", message->GetTypeName(),
                                            " that is not readable JSON (", status.ToString(),
                                            "): ", json.substr(0, 200)));
  }
  return absl::OkStatus();
}

KeyValue FromProto(const etcd::KeyValue& kv) {
  KeyValue out;
  out.key = kv.key();
  out.value = kv.value();
  out.create_revision = kv.create_revision();
  out.mod_revision = kv.mod_revision();
  return out;
}

// A transaction comparing `key`'s mod_revision with `expected`.
etcd::TxnRequest ModRevisionTxn(const std::string& key, int64_t expected) {
  etcd::TxnRequest txn;
  etcd::Compare* compare = txn.add_compare();
  compare->set_key(key);
  compare->set_target(etcd::Compare::MOD);
  compare->set_result(etcd::Compare::EQUAL);
  compare->set_mod_revision(expected);
  return txn;
}

}  // namespace

std::string PrefixRangeEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

absl::StatusOr<std::unique_ptr<EtcdClient>> EtcdClient::Create(const Options& options) {
  if (options.endpoints.empty()) {
    return absl::InvalidArgumentError("no etcd endpoint given (e.g. http://127.0.0.1:2379)");
  }
  for (const std::string& endpoint : options.endpoints) {
    LS_RETURN_IF_ERROR(CheckEndpoint(endpoint));
  }
  return std::unique_ptr<EtcdClient>(new EtcdClient(options));
}

absl::StatusOr<std::string> EtcdClient::Post(const std::string& path, const std::string& json) {
  const size_t n = options_.endpoints.size();
  const size_t first = preferred_.load(std::memory_order_relaxed) % n;
  std::vector<std::string> failures;
  for (size_t attempt = 0; attempt < n; ++attempt) {
    const size_t i = (first + attempt) % n;
    const std::string& endpoint = options_.endpoints[i];
    httplib::Client http(BaseUrl(endpoint));
    SetTimeouts(http, options_.timeout);
    httplib::Result result = http.Post(path.c_str(), json, "application/json");
    std::string failure;
    if (!result) {
      failure = Describe(result.error());
    } else if (result->status == 200) {
      preferred_.store(i, std::memory_order_relaxed);
      return std::move(result->body);
    } else {
      etcd::GatewayError error;
      const bool parsed = FromJson(result->body, &error).ok() && !error.message().empty();
      if (parsed && error.code() != kGrpcUnavailable && result->status != 503) {
        return absl::InternalError(absl::StrCat("etcd at ", endpoint, " refused ", path, ": ",
                                                error.message(), " (gRPC code ", error.code(),
                                                ", HTTP ", result->status, ")"));
      }
      if (!parsed && result->status != 503) {
        return absl::InternalError(absl::StrCat("etcd at ", endpoint, " answered HTTP ",
                                                result->status, " to ", path, ": ",
                                                result->body.substr(0, 200)));
      }
      failure = parsed ? error.message() : absl::StrCat("HTTP ", result->status);
    }
    if (attempt + 1 < n) {
      LOG(WARNING) << "etcd endpoint " << endpoint << " failed " << path << " (" << failure
                   << "); trying " << options_.endpoints[(i + 1) % n];
    }
    failures.push_back(absl::StrCat(endpoint, " (", failure, ")"));
  }
  return absl::UnavailableError(
      absl::StrCat("no etcd endpoint answered ", path, ": ", absl::StrJoin(failures, ", ")));
}

absl::Status EtcdClient::Call(const std::string& path, const google::protobuf::Message& request,
                              google::protobuf::Message* response) {
  LS_ASSIGN_OR_RETURN(const std::string json, ToJson(request));
  LS_ASSIGN_OR_RETURN(const std::string body, Post(path, json));
  return FromJson(body, response);
}

absl::StatusOr<std::optional<KeyValue>> EtcdClient::Get(const std::string& key) {
  etcd::RangeRequest request;
  request.set_key(key);
  etcd::RangeResponse response;
  LS_RETURN_IF_ERROR(Call("/v3/kv/range", request, &response));
  if (response.kvs_size() == 0) return std::optional<KeyValue>();
  return std::optional<KeyValue>(FromProto(response.kvs(0)));
}

absl::StatusOr<std::vector<KeyValue>> EtcdClient::GetPrefix(const std::string& prefix) {
  etcd::RangeRequest request;
  request.set_key(prefix.empty() ? std::string(1, '\0') : prefix);
  request.set_range_end(PrefixRangeEnd(prefix));
  request.set_limit(std::max<int64_t>(1, options_.range_page_size));
  std::vector<KeyValue> out;
  while (true) {
    etcd::RangeResponse response;
    LS_RETURN_IF_ERROR(Call("/v3/kv/range", request, &response));
    for (const etcd::KeyValue& kv : response.kvs()) out.push_back(FromProto(kv));
    if (!response.more() || response.kvs_size() == 0) break;
    // The next page starts after the last key, at the first page's revision.
    request.set_key(response.kvs(response.kvs_size() - 1).key() + std::string(1, '\0'));
    if (request.revision() == 0) request.set_revision(response.header().revision());
  }
  return out;
}

absl::Status EtcdClient::Put(const std::string& key, const std::string& value) {
  etcd::PutRequest request;
  request.set_key(key);
  request.set_value(value);
  etcd::PutResponse response;
  return Call("/v3/kv/put", request, &response);
}

absl::Status EtcdClient::Delete(const std::string& key) {
  etcd::DeleteRangeRequest request;
  request.set_key(key);
  etcd::DeleteRangeResponse response;
  return Call("/v3/kv/deleterange", request, &response);
}

absl::StatusOr<bool> EtcdClient::CreateIfAbsent(const std::string& key, const std::string& value,
                                                KeyValue* existing) {
  etcd::TxnRequest txn;
  etcd::Compare* compare = txn.add_compare();
  compare->set_key(key);
  compare->set_target(etcd::Compare::CREATE);
  compare->set_result(etcd::Compare::EQUAL);
  compare->set_create_revision(0);
  etcd::PutRequest* put = txn.add_success()->mutable_request_put();
  put->set_key(key);
  put->set_value(value);
  txn.add_failure()->mutable_request_range()->set_key(key);
  etcd::TxnResponse response;
  LS_RETURN_IF_ERROR(Call("/v3/kv/txn", txn, &response));
  if (response.succeeded()) return true;
  if (existing != nullptr) {
    *existing = KeyValue();
    if (response.responses_size() > 0 && response.responses(0).response_range().kvs_size() > 0) {
      *existing = FromProto(response.responses(0).response_range().kvs(0));
    }
  }
  return false;
}

absl::StatusOr<bool> EtcdClient::CompareAndSwap(const std::string& key, const std::string& value,
                                                int64_t expected_mod_revision) {
  etcd::TxnRequest txn = ModRevisionTxn(key, expected_mod_revision);
  etcd::PutRequest* put = txn.add_success()->mutable_request_put();
  put->set_key(key);
  put->set_value(value);
  etcd::TxnResponse response;
  LS_RETURN_IF_ERROR(Call("/v3/kv/txn", txn, &response));
  return response.succeeded();
}

absl::StatusOr<bool> EtcdClient::CompareAndDelete(const std::string& key,
                                                  int64_t expected_mod_revision) {
  if (expected_mod_revision <= 0) return false;  // An absent key: nothing to delete.
  etcd::TxnRequest txn = ModRevisionTxn(key, expected_mod_revision);
  txn.add_success()->mutable_request_delete_range()->set_key(key);
  etcd::TxnResponse response;
  LS_RETURN_IF_ERROR(Call("/v3/kv/txn", txn, &response));
  return response.succeeded();
}

}  // namespace latentsearch::cluster
