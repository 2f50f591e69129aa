#include "tests/unit/rpc/test_certs.h"

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"

namespace latentsearch::testing {
namespace {

// Runs `command` in a shell with stderr folded into the returned output.
absl::Status Run(const std::string& command) {
  const std::string full = absl::StrCat(command, " 2>&1");
  FILE* pipe = ::popen(full.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError(absl::StrCat("cannot run: ", command));
  std::string output;
  char buf[512];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) output.append(buf, n);
  const int rc = ::pclose(pipe);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("`", command, "` failed (", rc, "):\n", output));
  }
  return absl::OkStatus();
}

constexpr char kEcKey[] = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

absl::Status MakeCa(const std::string& dir, const std::string& name) {
  return Run(absl::StrCat("openssl req -x509 ", kEcKey, " -days 2 -subj /CN=", name, " -keyout ",
                          dir, "/", name, ".key -out ", dir, "/", name,
                          ".crt -addext basicConstraints=critical,CA:TRUE"
                          " -addext keyUsage=critical,keyCertSign,cRLSign"));
}

// A leaf certificate `name` signed by CA `ca` with the given extensions.
absl::Status MakeLeaf(const std::string& dir, const std::string& ca, const std::string& name,
                      const std::string& cn, const std::string& extensions) {
  const std::string ext_file = absl::StrCat(dir, "/", name, ".ext");
  LS_RETURN_IF_ERROR(WriteTextFile(ext_file, extensions));
  LS_RETURN_IF_ERROR(Run(absl::StrCat("openssl req ", kEcKey, " -subj /CN=", cn, " -keyout ", dir,
                                      "/", name, ".key -out ", dir, "/", name, ".csr")));
  return Run(absl::StrCat("openssl x509 -req -days 2 -in ", dir, "/", name, ".csr -CA ", dir, "/",
                          ca, ".crt -CAkey ", dir, "/", ca, ".key -CAcreateserial -out ", dir, "/",
                          name, ".crt -extfile ", ext_file));
}

}  // namespace

absl::Status WriteTextFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::StatusOr<TestCerts> MakeTestCerts(const std::string& dir) {
  LS_RETURN_IF_ERROR(MakeCa(dir, "ca"));
  LS_RETURN_IF_ERROR(MakeCa(dir, "rogue-ca"));
  LS_RETURN_IF_ERROR(MakeLeaf(dir, "ca", "server", "localhost",
                              "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                              "extendedKeyUsage=serverAuth\n"));
  LS_RETURN_IF_ERROR(MakeLeaf(dir, "ca", "client", "test-client", "extendedKeyUsage=clientAuth\n"));
  LS_RETURN_IF_ERROR(
      MakeLeaf(dir, "rogue-ca", "rogue-client", "rogue-client", "extendedKeyUsage=clientAuth\n"));
  TestCerts c;
  auto f = [&dir](const char* name) { return absl::StrCat(dir, "/", name); };
  c.ca_cert = f("ca.crt");
  c.server_cert = f("server.crt");
  c.server_key = f("server.key");
  c.client_cert = f("client.crt");
  c.client_key = f("client.key");
  c.rogue_client_cert = f("rogue-client.crt");
  c.rogue_client_key = f("rogue-client.key");
  c.rogue_ca_cert = f("rogue-ca.crt");
  return c;
}

}  // namespace latentsearch::testing
