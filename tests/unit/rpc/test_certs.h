// Throw-away PKI for TLS tests, generated with the openssl command line in a
// directory the caller owns: a CA, a server certificate for 127.0.0.1 and
// localhost, a client certificate from the same CA, and a client
// certificate from an unrelated CA (which an mTLS server must refuse).
// EC P-256 keys, valid for two days. Nothing here is fit for production.
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_TESTS_UNIT_RPC_TEST_CERTS_H_
#define LATENTSEARCH_TESTS_UNIT_RPC_TEST_CERTS_H_

#include <string>

#include "absl/status/statusor.h"

namespace latentsearch::testing {

struct TestCerts {
  std::string ca_cert;      // CA certificate (PEM file path).
  std::string server_cert;  // SAN IP:127.0.0.1, DNS:localhost.
  std::string server_key;
  std::string client_cert;  // Signed by ca_cert.
  std::string client_key;
  std::string rogue_client_cert;  // Signed by another CA.
  std::string rogue_client_key;
  std::string rogue_ca_cert;
};

// Writes the files into `dir` (which must exist). INTERNAL with openssl's
// output when a command fails.
absl::StatusOr<TestCerts> MakeTestCerts(const std::string& dir);

// Writes `contents` to `path` (tests' token files). INTERNAL on failure.
absl::Status WriteTextFile(const std::string& path, const std::string& contents);

}  // namespace latentsearch::testing

#endif  // LATENTSEARCH_TESTS_UNIT_RPC_TEST_CERTS_H_
