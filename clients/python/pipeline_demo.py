#!/usr/bin/python3
"""The latentsearch pipeline end to end, driven over gRPC from Python:

  1. train the default `conv` autoencoder on Fashion-MNIST (trainer), which
     pushes its checkpoint to the encoder;
  2. encode the test images (encoder) and upsert them into a collection
     pinned to that model version (search); upsert the raw pixels into a
     second collection as the baseline;
  3. query: show a few neighbour lists, and measure precision@10 by class
     label (query excluded) for every metric, exact and HNSW, next to raw
     pixels, plus HNSW recall@10 against exact.

Needs the three services running (deploy/demo.sh starts them). Generates
its stubs on the fly (Debian's protoc + grpc_python_plugin).
"""
import argparse
import gzip
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROTOS = os.path.join(HERE, "..", "..", "protos")
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
           "Sneaker", "Bag", "Ankle boot"]


def generate_stubs(out_dir):
    files = ["latentsearch/v1/common.proto", "latentsearch/v1/search.proto",
             "latentsearch/v1/encoder.proto", "latentsearch/v1/trainer.proto"]
    subprocess.run(["protoc", f"--proto_path={PROTOS}", f"--python_out={out_dir}",
                    f"--grpc_python_out={out_dir}",
                    "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin"] + files,
                   check=True)
    sys.path.insert(0, out_dir)


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return dims, data[4 + 4 * ndim:]


def main():
    p = argparse.ArgumentParser(description="latentsearch pipeline demo")
    p.add_argument("--trainer", default="127.0.0.1:50051")
    p.add_argument("--encoder", default="127.0.0.1:50052")
    p.add_argument("--search", default="127.0.0.1:50053")
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--train_seconds", type=float, default=60)
    p.add_argument("--latent", type=int, default=32)
    p.add_argument("--images", type=int, default=10000, help="test images to index")
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--json", default="", help="write the eval table here")
    p.add_argument("--wait_seconds", type=float, default=60)
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as gen:
        generate_stubs(gen)
        import grpc
        from latentsearch.v1 import (common_pb2, encoder_pb2, encoder_pb2_grpc, search_pb2,
                                     search_pb2_grpc, trainer_pb2, trainer_pb2_grpc)
        channels = {n: grpc.insecure_channel(a, options=[
            ("grpc.max_receive_message_length", 64 << 20)])
            for n, a in (("trainer", args.trainer), ("encoder", args.encoder),
                         ("search", args.search))}
        for ch in channels.values():
            grpc.channel_ready_future(ch).result(timeout=args.wait_seconds)
        trainer = trainer_pb2_grpc.TrainerStub(channels["trainer"])
        encoder = encoder_pb2_grpc.EncoderStub(channels["encoder"])
        search = search_pb2_grpc.SearchStub(channels["search"])

        # 1. Train.
        cfg = trainer_pb2.TrainingConfig(
            dataset=trainer_pb2.DatasetSpec(idx_dir=args.data, split=common_pb2.SPLIT_TRAIN),
            model_name="demo", architecture="conv", latent_size=args.latent, epochs=30,
            batch_size=64, time_budget_seconds=args.train_seconds, seed=1,
            checkpoint_policy=trainer_pb2.CHECKPOINT_POLICY_END)
        job = trainer.StartTraining(trainer_pb2.StartTrainingRequest(config=cfg), timeout=60)
        print(f"training job {job.job_id}: conv, latent {args.latent}, "
              f"{args.train_seconds:.0f} s budget on Fashion-MNIST")
        version = 0
        checkpoint_version = 0
        for ev in trainer.WatchTraining(trainer_pb2.WatchTrainingRequest(job_id=job.job_id)):
            kind = ev.WhichOneof("event")
            if kind == "epoch":
                print(f"  epoch {ev.epoch.epoch}: train loss {ev.epoch.train_loss:.4f}, "
                      f"validation loss {ev.epoch.validation_loss:.4f} ({ev.epoch.seconds:.1f} s)")
            elif kind == "checkpoint":
                checkpoint_version = ev.checkpoint.metadata.model.version
                print(f"  checkpoint {ev.checkpoint.metadata.model.name} "
                      f"v{ev.checkpoint.metadata.model.version}")
            elif kind == "push":
                print(f"  push to {ev.push.target}: {'ok' if ev.push.ok else ev.push.message}")
                if ev.push.ok and ev.push.model.version == checkpoint_version:
                    version = ev.push.model.version
            elif kind == "state" and ev.state.state in (
                    trainer_pb2.JOB_STATE_SUCCEEDED, trainer_pb2.JOB_STATE_FAILED,
                    trainer_pb2.JOB_STATE_STOPPED):
                print(f"  job {trainer_pb2.JobState.Name(ev.state.state)} {ev.state.message}")
                break
        # Pushes run beside the job and may finish after it: wait for the
        # encoder to hold the model.
        deadline = time.time() + 120
        while version == 0 and time.time() < deadline:
            models = encoder.ListModels(encoder_pb2.ListModelsRequest(name="demo"),
                                        timeout=30).models
            if any(m.metadata.model.version == checkpoint_version for m in models):
                version = checkpoint_version
                print(f"  encoder holds demo v{version}")
                break
            time.sleep(0.5)
        if version == 0:
            print("no checkpoint reached the encoder", file=sys.stderr)
            return 1

        # 2. Encode and index the test images; raw pixels as the baseline.
        (n, h, w), pixels = read_idx(os.path.join(args.data, "t10k-images-idx3-ubyte.gz"))
        _, labels = read_idx(os.path.join(args.data, "t10k-labels-idx1-ubyte.gz"))
        n = min(n, args.images)
        size = h * w
        model = common_pb2.ModelRef(name="demo", version=version)
        info = encoder.ListModels(encoder_pb2.ListModelsRequest(name="demo"), timeout=30)
        dim = info.models[0].metadata.latent_size
        for name, d, ref in (("demo", dim, model), ("demo-raw", size, None)):
            try:
                search.DropCollection(search_pb2.DropCollectionRequest(name=name), timeout=30)
            except grpc.RpcError:
                pass
            search.CreateCollection(search_pb2.CreateCollectionRequest(
                name=name, dim=d, model=ref), timeout=30)
        t0 = time.time()
        batch = 256

        def items(encoded):
            for start in range(0, n, batch):
                idx = range(start, min(n, start + batch))
                if encoded:
                    req = encoder_pb2.EncodeRequest(model=model, images=[
                        common_pb2.Image(raw=common_pb2.RawImage(
                            height=h, width=w, channels=1,
                            pixels=pixels[i * size:(i + 1) * size])) for i in idx])
                    vecs = [list(e.values) for e in encoder.Encode(req, timeout=120).embeddings]
                else:
                    vecs = [[b / 255.0 for b in pixels[i * size:(i + 1) * size]] for i in idx]
                yield search_pb2.UpsertRequest(
                    collection="demo" if encoded else "demo-raw",
                    items=[search_pb2.Item(id=f"test-{i}", vector=v, label=labels[i],
                                           uri=f"fashion-mnist:test:{i}")
                           for i, v in zip(idx, vecs)])

        ack = search.Upsert(items(True), timeout=600)
        print(f"indexed {ack.upserted} test images as {dim}-d embeddings "
              f"(model demo v{version}) in {time.time() - t0:.1f} s")
        search.Upsert(items(False), timeout=600)
        search.Snapshot(search_pb2.SnapshotRequest(), timeout=120)
        # HNSW graphs are built in the background; evaluate them once ready.
        deadline = time.time() + 600
        while time.time() < deadline:
            st = search.GetCollection(search_pb2.GetCollectionRequest(name="demo"), timeout=30)
            if all(i.state == search_pb2.INDEX_STATE_READY for i in st.indexes):
                break
            time.sleep(0.5)

        # 3. Query.
        rng = random.Random(7)
        for q in rng.sample(range(n), 3):
            r = search.Search(search_pb2.SearchRequest(
                collection="demo", item_id=f"test-{q}", exclude_self=True, k=8,
                metric=common_pb2.METRIC_COSINE), timeout=30)
            print(f"query test-{q} ({FASHION[labels[q]]}): " +
                  ", ".join(FASHION[nb.label] for nb in r.neighbors))

        queries = rng.sample(range(n), min(args.queries, n))
        table = {}
        for coll in ("demo", "demo-raw"):
            for metric in (common_pb2.METRIC_L1, common_pb2.METRIC_L2, common_pb2.METRIC_COSINE):
                exact_ids = None
                for kind in (common_pb2.INDEX_KIND_EXACT, common_pb2.INDEX_KIND_HNSW):
                    if coll == "demo-raw" and kind == common_pb2.INDEX_KIND_HNSW:
                        continue
                    reqs = [search_pb2.SearchRequest(item_id=f"test-{q}", exclude_self=True,
                                                     k=10, metric=metric, index_kind=kind,
                                                     ef=128)
                            for q in queries]
                    results = []
                    for s in range(0, len(reqs), 100):
                        results += search.SearchBatch(search_pb2.SearchBatchRequest(
                            collection=coll, queries=reqs[s:s + 100]), timeout=300).results
                    hits = sum(nb.label == labels[q] for q, r in zip(queries, results)
                               for nb in r.neighbors)
                    prec = hits / (10.0 * len(queries))
                    key = f"{coll} {common_pb2.Metric.Name(metric)[7:].lower()} " \
                          f"{common_pb2.IndexKind.Name(kind)[11:].lower()}"
                    ids = [[nb.id for nb in r.neighbors] for r in results]
                    row = {"precision_at_10": prec}
                    if kind == common_pb2.INDEX_KIND_HNSW:
                        row["exact_fallbacks"] = sum(r.exact_fallback for r in results)
                    if exact_ids is None:
                        exact_ids = ids
                    else:
                        row["recall_at_10_vs_exact"] = sum(
                            len(set(a) & set(b)) for a, b in zip(ids, exact_ids)) / (
                            10.0 * len(queries))
                    table[key] = row
        print(f"\nretrieval quality over {len(queries)} seeded queries (query excluded):")
        print(f"{'collection / metric / index':34s} {'precision@10':>12s} {'HNSW recall@10':>15s}")
        for key, row in table.items():
            rec = row.get("recall_at_10_vs_exact")
            print(f"{key:34s} {row['precision_at_10']:12.3f} "
                  f"{'' if rec is None else f'{rec:15.3f}'}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"model_version": version, "latent": dim, "queries": len(queries),
                           "table": table}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
