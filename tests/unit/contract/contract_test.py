#!/usr/bin/env python3
"""Contract tests for protos/: the .proto files must

1. compile for Python with Debian's protoc + grpc_python_plugin, and the
   generated modules must import under Debian's python3-grpcio and expose
   the names other-language clients depend on (ARCHITECTURE.md);
2. document every message, field, enum, enum value, service and method
   (a leading or trailing comment), because the protos are the contract.

Usage: contract_test.py PROTO_DIR [PROTOC] [GRPC_PYTHON_PLUGIN]
"""
import importlib
import os
import subprocess
import sys
import tempfile
import unittest

PROTO_DIR = sys.argv[1] if len(sys.argv) > 1 else "protos"
PROTOC = sys.argv[2] if len(sys.argv) > 2 else "protoc"
PLUGIN = sys.argv[3] if len(sys.argv) > 3 else "/usr/bin/grpc_python_plugin"
OUR_PROTOS = [
    "latentsearch/v1/common.proto",
    "latentsearch/v1/trainer.proto",
    "latentsearch/v1/encoder.proto",
    "latentsearch/v1/search.proto",
]
ALL_PROTOS = OUR_PROTOS + ["grpc/health/v1/health.proto"]

# Self-explanatory names that need no comment of their own.
UNDOCUMENTED_OK = {
    "SPLIT_TRAIN", "SPLIT_TEST", "OPTIMIZER_ADAMAX", "OPTIMIZER_ADAM",
    "OPTIMIZER_ADAMW", "JOB_STATE_UNSPECIFIED", "JOB_STATE_QUEUED",
    "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED",
    "INDEX_STATE_UNSPECIFIED",
}


class PythonStubsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.out = tempfile.TemporaryDirectory()
        subprocess.run(
            [PROTOC, f"--proto_path={PROTO_DIR}", f"--python_out={cls.out.name}",
             f"--grpc_python_out={cls.out.name}",
             f"--plugin=protoc-gen-grpc_python={PLUGIN}"] + ALL_PROTOS,
            check=True)
        sys.path.insert(0, cls.out.name)

    @classmethod
    def tearDownClass(cls):
        sys.path.remove(cls.out.name)
        cls.out.cleanup()

    def test_modules_import_and_expose_the_contract(self):
        common = importlib.import_module("latentsearch.v1.common_pb2")
        self.assertEqual(common.METRIC_L1, 1)
        self.assertEqual(common.METRIC_L2, 2)
        self.assertEqual(common.METRIC_COSINE, 3)
        self.assertEqual(common.METRIC_UNSPECIFIED, 0)
        self.assertEqual(common.INDEX_KIND_EXACT, 1)
        self.assertEqual(common.INDEX_KIND_HNSW, 2)
        self.assertEqual(common.INDEX_KIND_UNSPECIFIED, 0)
        img = common.Image(raw=common.RawImage(height=2, width=2, channels=1,
                                               pixels=b"\0\1\2\3"))
        self.assertEqual(img.WhichOneof("source"), "raw")
        img = common.Image(encoded=b"\x89PNG")
        self.assertEqual(img.WhichOneof("source"), "encoded")
        ref = common.ModelRef(name="default", version=0)
        self.assertEqual(common.ModelRef.FromString(ref.SerializeToString()), ref)

        expected = {
            "trainer": ("Trainer", ["StartTraining", "WatchTraining", "StopTraining",
                                    "ResumeTraining", "GetJob", "ListJobs",
                                    "ListCheckpoints", "DownloadCheckpoint"]),
            "encoder": ("Encoder", ["Encode", "Reconstruct", "PushCheckpoint",
                                    "ListModels"]),
            "search": ("Search", ["CreateCollection", "DropCollection",
                                  "ListCollections", "GetCollection", "Upsert",
                                  "Delete", "ListItems", "Search", "SearchBatch", "Snapshot"]),
        }
        for module, (service, methods) in expected.items():
            pb2 = importlib.import_module(f"latentsearch.v1.{module}_pb2")
            grpc_mod = importlib.import_module(f"latentsearch.v1.{module}_pb2_grpc")
            desc = pb2.DESCRIPTOR.services_by_name[service]
            self.assertEqual(sorted(m.name for m in desc.methods), sorted(methods))
            self.assertTrue(hasattr(grpc_mod, f"{service}Stub"))
            self.assertTrue(hasattr(grpc_mod, f"{service}Servicer"))

        search = importlib.import_module("latentsearch.v1.search_pb2")
        item = search.Item(id="a", vector=[1.0, 2.0], label=3, uri="x")
        self.assertEqual(list(item.vector), [1.0, 2.0])
        req = search.SearchRequest(collection="c", item_id="a", k=5,
                                   metric=common.METRIC_COSINE,
                                   index_kind=common.INDEX_KIND_HNSW,
                                   exclude_self=True, labels=[1, 2])
        self.assertEqual(req.WhichOneof("query"), "item_id")
        trainer = importlib.import_module("latentsearch.v1.trainer_pb2")
        cfg = trainer.TrainingConfig()
        self.assertFalse(cfg.HasField("validation_fraction"))  # proto3 optional
        cfg.validation_fraction = 0.0
        self.assertTrue(cfg.HasField("validation_fraction"))

    def test_grpc_channel_and_stub_construct(self):
        import grpc
        search_grpc = importlib.import_module("latentsearch.v1.search_pb2_grpc")
        channel = grpc.insecure_channel("127.0.0.1:1")
        stub = search_grpc.SearchStub(channel)
        self.assertTrue(callable(stub.Search))
        channel.close()


class DocumentationTest(unittest.TestCase):
    def test_every_element_is_documented(self):
        from google.protobuf import descriptor_pb2
        with tempfile.TemporaryDirectory() as out:
            path = os.path.join(out, "set.pb")
            subprocess.run([PROTOC, f"--proto_path={PROTO_DIR}", "--include_source_info",
                            f"--descriptor_set_out={path}"] + OUR_PROTOS, check=True)
            with open(path, "rb") as fh:
                fds = descriptor_pb2.FileDescriptorSet.FromString(fh.read())
        missing = []
        for f in fds.file:
            comments = {}
            for loc in f.source_code_info.location:
                if loc.leading_comments.strip() or loc.trailing_comments.strip():
                    comments[tuple(loc.path)] = True

            def need(path, name, kind):
                if name in UNDOCUMENTED_OK:
                    return
                if tuple(path) not in comments:
                    missing.append(f"{f.name}: {kind} {name}")

            def walk_message(msg, path, prefix):
                need(path, prefix + msg.name, "message")
                for i, field in enumerate(msg.field):
                    need(path + [2, i], f"{prefix}{msg.name}.{field.name}", "field")
                for i, nested in enumerate(msg.nested_type):
                    walk_message(nested, path + [3, i], prefix + msg.name + ".")
                for i, enum in enumerate(msg.enum_type):
                    walk_enum(enum, path + [4, i], prefix + msg.name + ".")

            def walk_enum(enum, path, prefix):
                need(path, prefix + enum.name, "enum")
                for i, value in enumerate(enum.value):
                    if value.number == 0 and value.name.endswith("_UNSPECIFIED") and \
                            tuple(path + [2, i]) not in comments:
                        missing.append(f"{f.name}: enum value {value.name} (say what 0 means)")
                        continue
                    need(path + [2, i], value.name, "enum value")

            for i, msg in enumerate(f.message_type):
                # Plain request/response wrappers document themselves through
                # their RPC; their fields still need comments.
                if msg.name.endswith(("Request", "Response")) or msg.name in (
                        "Vector", "Embedding"):
                    comments[(4, i)] = True
                walk_message(msg, [4, i], "")
            for i, enum in enumerate(f.enum_type):
                walk_enum(enum, [5, i], "")
            for i, svc in enumerate(f.service):
                need([6, i], svc.name, "service")
                for j, m in enumerate(svc.method):
                    need([6, i, 2, j], f"{svc.name}.{m.name}", "rpc")
        self.assertEqual(missing, [], "undocumented contract elements:\n  " +
                         "\n  ".join(missing))


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
