#!/usr/bin/env python3
"""The rules of docs/architecture.md that a text search can check.

- A gRPC adapter (services/*/*_service.cc) never makes a gRPC client call
  (no stubs, no ClientContext, no channels) and never switches over status
  codes or builds a grpc::Status by hand: it finishes with rpc::ToGrpcStatus.
- A core (services/*/*_core.{h,cc}) never includes gRPC.
- Nothing in common/ except common/rpc and common/testing includes gRPC.
"""
import argparse
import glob
import os
import re
import sys

ADAPTER_FORBIDDEN = [
    (r"\bStub\b|NewStub|::Stub\b", "a gRPC stub (client call)"),
    (r"\bClientContext\b", "a gRPC client context (client call)"),
    (r"CreateChannel|MakeChannel", "a gRPC channel"),
    (r"\bswitch\s*\(", "a switch (status codes are mapped in common/rpc only)"),
    (r"grpc::StatusCode::", "a hand-built grpc status code"),
]
GRPC_INCLUDE = re.compile(r'#include\s*[<"](grpcpp|grpc\+\+|grpc)/')


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source_dir", required=True)
    src = ap.parse_args().source_dir
    errors = []
    adapters = sorted(glob.glob(os.path.join(src, "services/*/*_service.cc")))
    for path in adapters:
        text = strip_comments(open(path, encoding="utf-8").read())
        for pattern, what in ADAPTER_FORBIDDEN:
            for m in re.finditer(pattern, text):
                line = text.count("\n", 0, m.start()) + 1
                errors.append(f"{os.path.relpath(path, src)}:{line}: {what}")
    cores = sorted(glob.glob(os.path.join(src, "services/*/*_core.h")) +
                   glob.glob(os.path.join(src, "services/*/*_core.cc")))
    libs = [p for p in glob.glob(os.path.join(src, "common/**/*.[hc]*"), recursive=True)
            if not re.search(r"/common/(rpc|testing)/", p)]
    for path in cores + libs:
        for i, line in enumerate(open(path, encoding="utf-8"), 1):
            if GRPC_INCLUDE.search(line):
                errors.append(f"{os.path.relpath(path, src)}:{i}: includes gRPC")
    if len(adapters) < 3 or len(cores) < 3:
        errors.append(f"found {len(adapters)} adapters and {len(cores)} core files; expected 3+")
    for e in errors:
        print("FAIL", e)
    print(f"{len(adapters)} adapters, {len(cores)} core files, {len(libs)} common/ files checked,"
          f" {len(errors)} violations")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
