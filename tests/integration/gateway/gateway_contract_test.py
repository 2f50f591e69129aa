#!/usr/bin/python3
"""REST contract of latentsearch-gateway against the real services on
loopback (issue #12): every route of the gateway's route table with a
success case and its error cases, the route table walked (every route of
/v1/openapi.json exercised, every RPC of Trainer, Encoder and Search but
PushCheckpoint mapped, checked against the .proto files), error JSON (gRPC
code name + matching HTTP status), tokens (header and session cookie) over
TLS, a backend token, path traversal refused, 413 over --max_upload_bytes,
non-image uploads 400, server-sent events for WatchTraining.

Usage: gateway_contract_test.py BUILD_DIR SOURCE_DIR. Exit 77 (skipped)
without Debian's Fashion-MNIST.
"""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gateway_stack as gs  # noqa: E402

BUILD, SOURCE = sys.argv[1], sys.argv[2]
BIN = os.path.join(BUILD, "bin")
MAX_UPLOAD = 1 << 20
COLLECTION = "fm-contract"
MODEL = "fm"
N_ITEMS = 300

# operationId -> set of outcomes seen ("ok", "error").
SEEN = {}
# Routes that cannot fail on a well-formed request.
NO_ERROR_CASE = {"Gateway.Healthz", "Gateway.OpenApi", "Gateway.GetSession", "Gateway.SignOut"}

STACK = None
TMP = None
IMAGES = None


def call(op, client, method, path, body=None, expect=None, **kw):
    """Calls a route and records the outcome under `op`; `expect` = the HTTP
    status of an expected error (then its error JSON is returned)."""
    try:
        status, headers, data = client.request(method, path, body=body, **kw)
    except gs.HttpError as e:
        SEEN.setdefault(op, set()).add("error")
        if expect is None:
            raise AssertionError(f"{op} {method} {path}: {e}")
        assert e.status == expect, f"{op}: HTTP {e.status}, expected {expect}: {e.body}"
        err = e.json()["error"]
        assert err["http_status"] == e.status, err
        assert re.fullmatch(r"[A-Z_]+", err["code"]), err
        assert err["message"], err
        return err
    SEEN.setdefault(op, set()).add("ok")
    assert expect is None, f"{op} {method} {path}: expected HTTP {expect}, got {status}"
    return data


def setUpModule():
    global STACK, TMP, IMAGES
    TMP = tempfile.mkdtemp(prefix="gateway-contract-")
    roots = os.path.join(TMP, "images")
    os.makedirs(roots)
    STACK = gs.Stack(BIN, TMP, gateway_flags=[
        f"--image_roots={gs.FASHION},{roots}", f"--max_upload_bytes={MAX_UPLOAD}"])
    c = STACK.client()
    job = c.post("/v1/jobs", gs.train_config(MODEL))["jobId"]
    assert gs.wait_job(c, job)["state"] == "JOB_STATE_SUCCEEDED"
    gs.wait_model(c, MODEL)
    IMAGES = gs.fashion_test_images(N_ITEMS)
    gs.ingest(c, COLLECTION, MODEL, IMAGES)


def tearDownModule():
    if STACK:
        STACK.stop()
    if TMP and not os.environ.get("LS_KEEP_TMP"):
        shutil.rmtree(TMP, ignore_errors=True)


def png_of(i):
    return gs.png_bytes(28, 28, 1, IMAGES[i][0])


class GatewayRoutes(unittest.TestCase):
    def setUp(self):
        self.c = STACK.client()

    def test_health(self):
        self.assertEqual(call("Gateway.Healthz", self.c, "GET", "/healthz"), {"status": "ok"})
        ready = call("Gateway.Readyz", self.c, "GET", "/readyz")
        self.assertEqual(ready["status"], "ready")
        self.assertEqual(set(ready["backends"]), {"trainer", "encoder", "search"})

    def test_readyz_names_the_backend_down(self):
        # A second gateway whose encoder address answers nothing.
        tmp = tempfile.mkdtemp(dir=TMP)
        other = gs.Stack(BIN, tmp, services=("gateway",), addresses={
            "trainer": STACK.addr["trainer"], "search": STACK.addr["search"],
            "encoder": "127.0.0.1:1"})
        try:
            err = None
            try:
                other.client().get("/readyz")
            except gs.HttpError as e:
                err = e
            self.assertIsNotNone(err)
            self.assertEqual(err.status, 503)
            body = err.json()
            self.assertEqual(body["down"], ["encoder"])
            self.assertIn("encoder at 127.0.0.1:1", body["message"])
            SEEN.setdefault("Gateway.Readyz", set()).add("error")
        finally:
            other.stop()

    def test_openapi_and_unknown_routes(self):
        doc = call("Gateway.OpenApi", self.c, "GET", "/v1/openapi.json")
        self.assertEqual(doc["openapi"], "3.0.3")
        self.assertIn("/v1/collections/{collection}:search", doc["paths"])
        err = call("none", self.c, "GET", "/v1/nothing-here", expect=404)
        self.assertEqual(err["code"], "NOT_FOUND")
        err = call("none", self.c, "DELETE", "/v1/jobs", expect=405)
        self.assertEqual(err["code"], "UNIMPLEMENTED")

    def test_collections(self):
        info = call("Search.CreateCollection", self.c, "POST", "/v1/collections",
                    {"name": "tmp-c", "dim": 4})
        self.assertEqual(info["dim"], 4)
        self.assertEqual(info["itemCount"], "0")  # uint64 as a string
        err = call("Search.CreateCollection", self.c, "POST", "/v1/collections",
                   {"name": "tmp-c", "dim": 4}, expect=409)
        self.assertEqual(err["code"], "ALREADY_EXISTS")
        self.assertEqual(err["service"], "search")
        err = call("Search.CreateCollection", self.c, "POST", "/v1/collections",
                   {"name": "bad", "dim": 0}, expect=400)
        self.assertEqual(err["code"], "INVALID_ARGUMENT")
        err = call("Search.CreateCollection", self.c, "POST", "/v1/collections",
                   {"name": "bad", "dimension": 3}, expect=400)
        self.assertIn("dimension", err["message"])
        self.assertEqual(err["service"], "gateway")
        err = call("Search.CreateCollection", self.c, "POST", "/v1/collections", b"name=x",
                   content_type="application/x-www-form-urlencoded", expect=400)
        self.assertIn("application/json", err["message"])
        names = [x["name"] for x in call("Search.ListCollections", self.c, "GET",
                                         "/v1/collections")["collections"]]
        self.assertIn("tmp-c", names)
        call("Search.ListCollections", self.c, "GET", "/v1/collections?bogus=1", expect=400)
        got = call("Search.GetCollection", self.c, "GET", f"/v1/collections/{COLLECTION}")
        self.assertEqual(got["itemCount"], str(N_ITEMS))
        self.assertEqual(got["model"]["name"], MODEL)
        err = call("Search.GetCollection", self.c, "GET", "/v1/collections/missing", expect=404)
        self.assertEqual(err["code"], "NOT_FOUND")
        call("Search.DropCollection", self.c, "DELETE", "/v1/collections/tmp-c")
        call("Search.DropCollection", self.c, "DELETE", "/v1/collections/tmp-c", expect=404)

    def test_items(self):
        call("Search.CreateCollection", self.c, "POST", "/v1/collections",
             {"name": "items-c", "dim": 2})
        up = call("Search.Upsert", self.c, "POST", "/v1/collections/items-c/items",
                  {"items": [{"id": f"i{n}", "vector": [n, 1], "label": n % 2} for n in range(1200)]})
        self.assertEqual(up["upserted"], "1200")  # sent as 3 stream messages
        err = call("Search.Upsert", self.c, "POST", "/v1/collections/items-c/items",
                   {"items": [{"id": "x", "vector": [1, 2, 3]}]}, expect=400)
        self.assertEqual(err["service"], "search")
        call("Search.Upsert", self.c, "POST", "/v1/collections/missing/items",
             {"items": [{"id": "x", "vector": [1, 2]}]}, expect=404)
        page = call("Search.ListItems", self.c, "GET",
                    "/v1/collections/items-c/items?page_size=2&include_vectors=true")
        self.assertEqual([i["id"] for i in page["items"]], ["i0", "i1"])
        self.assertEqual(page["items"][1]["vector"], [1, 1])
        page2 = call("Search.ListItems", self.c, "GET", "/v1/collections/items-c/items?"
                     f"page_size=2&page_token={page['nextPageToken']}")
        self.assertEqual([i["id"] for i in page2["items"]], ["i10", "i100"])
        call("Search.ListItems", self.c, "GET", "/v1/collections/items-c/items?page_size=x",
             expect=400)
        call("Search.ListItems", self.c, "GET",
             "/v1/collections/items-c/items?page_size=20000", expect=400)
        d = call("Search.Delete", self.c, "POST", "/v1/collections/items-c/items:delete",
                 {"ids": ["i0", "nope"]})
        self.assertEqual((d["deleted"], d["notFound"]), ("1", "1"))
        call("Search.Delete", self.c, "POST", "/v1/collections/missing/items:delete",
             {"ids": ["a"]}, expect=404)
        snap = call("Search.Snapshot", self.c, "POST", "/v1/snapshots", {"collection": "items-c"})
        self.assertEqual(snap["snapshots"][0]["collection"], "items-c")
        call("Search.Snapshot", self.c, "POST", "/v1/snapshots", {"collection": "missing"},
             expect=404)

    def test_search_by_vector_item_and_batch(self):
        first = call("Search.ListItems", self.c, "GET",
                     f"/v1/collections/{COLLECTION}/items?page_size=1&include_vectors=true")
        item = first["items"][0]
        for metric in ("METRIC_L1", "METRIC_L2", "METRIC_COSINE"):
            r = call("Search.Search", self.c, "POST", f"/v1/collections/{COLLECTION}:search",
                     {"vector": {"values": item["vector"]}, "k": 5, "metric": metric})
            self.assertEqual(r["metric"], metric)
            self.assertEqual(len(r["neighbors"]), 5)
            self.assertEqual(r["neighbors"][0]["id"], item["id"])
            self.assertLessEqual(r["neighbors"][0]["distance"], 1e-5)
        r = call("Search.Search", self.c, "POST", f"/v1/collections/{COLLECTION}:search",
                 {"itemId": "test-3", "k": 3, "excludeSelf": True, "indexKind": "INDEX_KIND_HNSW",
                  "labels": [IMAGES[3][1]]})
        self.assertNotIn("test-3", [n["id"] for n in r["neighbors"]])
        self.assertTrue(all(n["label"] == IMAGES[3][1] for n in r["neighbors"]))
        err = call("Search.Search", self.c, "POST", f"/v1/collections/{COLLECTION}:search",
                   {"vector": {"values": [1.0, 2.0]}}, expect=400)
        self.assertEqual(err["code"], "INVALID_ARGUMENT")
        call("Search.Search", self.c, "POST", f"/v1/collections/{COLLECTION}:search",
             {"itemId": "no-such-item"}, expect=404)
        call("Search.Search", self.c, "POST", f"/v1/collections/{COLLECTION}:search",
             {"itemId": "test-1", "metric": "METRIC_MANHATTAN"}, expect=400)
        b = call("Search.SearchBatch", self.c, "POST", f"/v1/collections/{COLLECTION}:searchBatch",
                 {"queries": [{"itemId": "test-1", "k": 2}, {"itemId": "test-2", "k": 2}]})
        self.assertEqual(len(b["results"]), 2)
        err = call("Search.SearchBatch", self.c, "POST",
                   f"/v1/collections/{COLLECTION}:searchBatch",
                   {"queries": [{"itemId": "test-1"}, {"itemId": "missing"}]}, expect=404)
        self.assertIn("1", err["message"])

    def test_search_by_uploaded_image(self):
        png = png_of(7)
        # raw body, the other fields as query parameters
        r = call("Search.Search", self.c, "POST",
                 f"/v1/collections/{COLLECTION}:search?k=4&metric=METRIC_COSINE", png,
                 content_type="image/png")
        self.assertEqual(r["neighbors"][0]["id"], "test-7")
        self.assertLessEqual(r["neighbors"][0]["distance"], 1e-5)
        # multipart with a form field
        boundary = "----lsboundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\n3\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
                f"filename=\"q.png\"\r\nContent-Type: image/png\r\n\r\n").encode() + png + \
            f"\r\n--{boundary}--\r\n".encode()
        r = call("Search.Search", self.c, "POST", f"/v1/collections/{COLLECTION}:search", body,
                 content_type=f"multipart/form-data; boundary={boundary}")
        self.assertEqual(len(r["neighbors"]), 3)
        self.assertEqual(r["neighbors"][0]["id"], "test-7")
        # a non-image upload: 400 naming the problem
        err = call("Search.Search", self.c, "POST", f"/v1/collections/{COLLECTION}:search",
                   b"%PDF-1.4 not an image", content_type="image/png", expect=400)
        self.assertEqual(err["code"], "INVALID_ARGUMENT")
        self.assertIn("not a PNG or JPEG image", err["message"])
        # over --max_upload_bytes: 413
        err = call("Search.Search", self.c, "POST", f"/v1/collections/{COLLECTION}:search",
                   b"\x89PNG" + b"\0" * MAX_UPLOAD, content_type="image/png", expect=413)
        self.assertEqual(err["code"], "RESOURCE_EXHAUSTED")
        self.assertIn("--max_upload_bytes", err["message"])

    def test_encoder_routes(self):
        models = call("Encoder.ListModels", self.c, "GET", "/v1/models")
        self.assertEqual(models["models"][0]["metadata"]["model"]["name"], MODEL)
        call("Encoder.ListModels", self.c, "GET", "/v1/models?nam=fm", expect=400)
        png = png_of(0)
        e = call("Encoder.Encode", self.c, "POST", f"/v1/models/{MODEL}:encode", png,
                 content_type="image/png")
        self.assertEqual(e["dim"], 16)
        self.assertEqual(len(e["embeddings"][0]["values"]), 16)
        e = call("Encoder.Encode", self.c, "POST", f"/v1/models/{MODEL}:encode",
                 {"images": [{"encoded": base64.b64encode(png).decode()}] * 2})
        self.assertEqual(len(e["embeddings"]), 2)
        err = call("Encoder.Encode", self.c, "POST", "/v1/models/nosuch:encode",
                   {"images": [{"encoded": base64.b64encode(png).decode()}]}, expect=404)
        self.assertEqual(err["service"], "encoder")
        call("Encoder.Encode", self.c, "POST", f"/v1/models/{MODEL}:encode",
             {"images": [{"encoded": "not base64!"}]}, expect=400)
        rec = call("Encoder.Reconstruct", self.c, "POST", f"/v1/models/{MODEL}:reconstruct", png,
                   content_type="image/png")
        img = rec["images"][0]
        self.assertEqual((img["height"], img["width"], img["channels"]), (28, 28, 1))
        self.assertEqual(len(base64.b64decode(img["pixels"])), 784)
        call("Encoder.Reconstruct", self.c, "POST", f"/v1/models/{MODEL}:reconstruct",
             {"images": []}, expect=400)
        status, headers, data = self.c.request("POST", f"/v1/models/{MODEL}:preview",
                                               body=gs.png_bytes(56, 56, 3, bytes(56 * 56 * 3)),
                                               content_type="image/png")
        SEEN.setdefault("Gateway.Preview", set()).add("ok")
        self.assertEqual(headers["Content-Type"], "image/png")
        self.assertEqual(data[16:24], bytes([0, 0, 0, 28, 0, 0, 0, 28]))  # IHDR 28x28
        self.assertEqual(data[25], 0)  # grey, as the model takes it
        call("Gateway.Preview", self.c, "POST", "/v1/models/nosuch:preview", png,
             content_type="image/png", expect=404)

    def test_trainer_routes_and_events(self):
        jobs = call("Trainer.ListJobs", self.c, "GET", "/v1/jobs")["jobs"]
        self.assertTrue(jobs)
        call("Trainer.ListJobs", self.c, "GET", "/v1/jobs?states=JOB_STATE_SUCCEEDED")
        call("Trainer.ListJobs", self.c, "GET", "/v1/jobs?states=DONE", expect=400)
        job_id = jobs[-1]["jobId"]
        job = call("Trainer.GetJob", self.c, "GET", f"/v1/jobs/{job_id}")
        self.assertEqual(job["state"], "JOB_STATE_SUCCEEDED")
        call("Trainer.GetJob", self.c, "GET", "/v1/jobs/job-999999", expect=404)
        err = call("Trainer.StartTraining", self.c, "POST", "/v1/jobs",
                   gs.train_config("bad", architecture="nonesuch"), expect=400)
        self.assertIn("architecture", err["message"])
        # server-sent events of the finished job: history then "end"
        status, headers, data = self.c.request("GET", f"/v1/jobs/{job_id}/events", raw=True)
        SEEN.setdefault("Trainer.WatchTraining", set()).add("ok")
        self.assertTrue(headers["Content-Type"].startswith("text/event-stream"))
        events = parse_sse(data.decode())
        self.assertEqual(events[-1][1], "end")
        kinds = [k for _, k, _ in events]
        self.assertIn("step", kinds)
        self.assertIn("epoch", kinds)
        self.assertIn("checkpoint", kinds)
        seqs = [int(i) for i, k, _ in events if i]
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)))
        step = next(json.loads(d) for _, k, d in events if k == "step")
        self.assertIn("loss", step["step"])
        # resume after a Last-Event-ID
        _, _, data = self.c.request("GET", f"/v1/jobs/{job_id}/events", raw=True,
                                    headers={"Last-Event-ID": str(seqs[-3])})
        resumed = [int(i) for i, _, _ in parse_sse(data.decode()) if i]
        self.assertEqual(resumed, seqs[-2:])
        call("Trainer.WatchTraining", self.c, "GET", "/v1/jobs/job-999999/events", expect=404)
        # a live job: start, watch its first step, stop it
        started = call("Trainer.StartTraining", self.c, "POST", "/v1/jobs",
                       gs.train_config("fm-long", max_images=4000, epochs=50))
        live = gs.Client(STACK.addr["gateway"])
        live.conn.request("GET", f"/v1/jobs/{started['jobId']}/events")
        resp = live.conn.getresponse()
        buf = b""
        while b"event: step" not in buf:
            chunk = resp.read1(4096)
            self.assertTrue(chunk, "stream ended before a step event")
            buf += chunk
        stopped = call("Trainer.StopTraining", self.c, "POST",
                       f"/v1/jobs/{started['jobId']}:stop")
        self.assertIn(stopped["state"], ("JOB_STATE_RUNNING", "JOB_STATE_STOPPED"))
        rest = resp.read().decode()  # the stream ends when the job does
        self.assertIn("JOB_STATE_STOPPED", rest)
        self.assertIn("event: end", rest)
        live.conn.close()
        call("Trainer.StopTraining", self.c, "POST", "/v1/jobs/job-999999:stop", expect=404)
        # resume the stopped job, then stop it again
        gs.wait_job(self.c, started["jobId"])
        resumed = call("Trainer.ResumeTraining", self.c, "POST",
                       f"/v1/jobs/{started['jobId']}:resume")
        self.assertIn(resumed["state"], ("JOB_STATE_QUEUED", "JOB_STATE_RUNNING"))
        call("Trainer.StopTraining", self.c, "POST", f"/v1/jobs/{started['jobId']}:stop")
        gs.wait_job(self.c, started["jobId"])
        err = call("Trainer.ResumeTraining", self.c, "POST", f"/v1/jobs/{job_id}:resume",
                   expect=400)
        self.assertEqual(err["code"], "FAILED_PRECONDITION")
        call("Trainer.ResumeTraining", self.c, "POST", "/v1/jobs/job-999999:resume", expect=404)

    def test_checkpoints(self):
        cks = call("Trainer.ListCheckpoints", self.c, "GET", f"/v1/checkpoints?model_name={MODEL}")
        meta = cks["checkpoints"][0]
        call("Trainer.ListCheckpoints", self.c, "GET", "/v1/checkpoints?model=fm", expect=400)
        status, headers, data = self.c.request("GET", f"/v1/checkpoints/{MODEL}/0", raw=True)
        SEEN.setdefault("Trainer.DownloadCheckpoint", set()).add("ok")
        self.assertEqual(len(data), int(meta["sizeBytes"]))
        import hashlib
        self.assertEqual(hashlib.sha256(data).hexdigest(), meta["sha256"])
        self.assertEqual(headers["X-Checkpoint-Sha256"], meta["sha256"])
        call("Trainer.DownloadCheckpoint", self.c, "GET", f"/v1/checkpoints/{MODEL}/99",
             expect=404)
        call("Trainer.DownloadCheckpoint", self.c, "GET", f"/v1/checkpoints/{MODEL}/x",
             expect=400)

    def test_thumbnails_and_traversal(self):
        uri = urllib.parse.quote(f"idx:test:5:{gs.FASHION}", safe="")
        status, headers, png = self.c.request("GET", f"/v1/thumbnails?uri={uri}&size=56",
                                              raw=True)
        SEEN.setdefault("Gateway.Thumbnail", set()).add("ok")
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        self.assertEqual(png[16:24], bytes([0, 0, 0, 56, 0, 0, 0, 56]))
        roots = os.path.join(TMP, "images")
        with open(os.path.join(roots, "ok.png"), "wb") as f:
            f.write(png_of(1))
        os.symlink("/etc/passwd", os.path.join(roots, "escape.png"))
        os.symlink("/etc", os.path.join(roots, "etc"))
        call("Gateway.Thumbnail", self.c, "GET",
             "/v1/thumbnails?uri=" + urllib.parse.quote(f"file:{roots}/ok.png"))
        for bad in (f"file:{roots}/../../../etc/passwd", f"file:{roots}/escape.png",
                    f"file:{roots}/etc/passwd", "file:/etc/passwd",
                    f"idx:test:0:{roots}/../../etc", "file:/nonexistent/x.png"):
            err = call("Gateway.Thumbnail", self.c, "GET",
                       "/v1/thumbnails?uri=" + urllib.parse.quote(bad), expect=403)
            self.assertEqual(err["code"], "PERMISSION_DENIED", bad)
        call("Gateway.Thumbnail", self.c, "GET", "/v1/thumbnails?uri=nonsense", expect=400)
        call("Gateway.Thumbnail", self.c, "GET", f"/v1/thumbnails?uri={uri}&size=100000",
             expect=400)
        call("Gateway.Thumbnail", self.c, "GET",
             "/v1/thumbnails?uri=" + urllib.parse.quote(f"file:{roots}/missing.png"), expect=404)

    def test_evals(self):
        started = call("Gateway.StartEval", self.c, "POST", "/v1/evals",
                       {"collection": COLLECTION, "queries": 50, "k": 5, "mapDepth": 20})
        deadline = time.time() + 120
        while True:
            job = call("Gateway.GetEval", self.c, "GET", f"/v1/evals/{started['id']}")
            if job["state"] != "RUNNING" or time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(job["state"], "SUCCEEDED", job)
        rows = job["result"]["rows"]
        self.assertEqual(len([r for r in rows if r["source"] == "model"]), 6)
        self.assertTrue(any(r["source"] == "raw pixels" for r in rows), job["result"])
        listed = call("Gateway.ListEvals", self.c, "GET", "/v1/evals")["evals"]
        self.assertIn(started["id"], [j["id"] for j in listed])
        call("Gateway.ListEvals", self.c, "GET", "/v1/evals", expect=None)
        call("Gateway.StartEval", self.c, "POST", "/v1/evals", {"queries": 5}, expect=400)
        call("Gateway.StartEval", self.c, "POST", "/v1/evals", {"collection": COLLECTION,
                                                                "k": 0}, expect=400)
        call("Gateway.GetEval", self.c, "GET", "/v1/evals/eval-999999", expect=404)
        SEEN.setdefault("Gateway.ListEvals", set()).add("error")  # takes no input

    def test_console_files(self):
        status, headers, page = self.c.request("GET", "/", raw=True)
        SEEN.setdefault("Gateway.Console", set()).add("ok")
        self.assertIn(b"<html", page)
        self.assertTrue(headers["Content-Type"].startswith("text/html"))
        _, _, js = self.c.request("GET", "/vendor/umap-js.min.js", raw=True)
        self.assertIn(b"UMAP", js)
        call("Gateway.Console", self.c, "GET", "/nothing.js", expect=404)
        call("Gateway.Console", self.c, "GET", "/../../etc/passwd", expect=404)

    def test_metrics(self):
        import urllib.request
        page = urllib.request.urlopen(f"http://{STACK.addr['gateway_metrics']}/metrics").read()
        self.assertIn(b'latentsearch_gateway_requests_total{operation="Encoder.Encode"', page)
        self.assertIn(b"latentsearch_gateway_thumbnail_requests_total", page)

    def test_session_without_tokens(self):
        s = call("Gateway.GetSession", self.c, "GET", "/v1/session")
        self.assertEqual(s, {"authRequired": False, "signedIn": True})
        call("Gateway.SignIn", self.c, "POST", "/v1/session", {"token": "x" * 20})
        call("Gateway.SignIn", self.c, "POST", "/v1/session", {}, expect=400)
        call("Gateway.SignOut", self.c, "DELETE", "/v1/session")


def parse_sse(text):
    """[(id, event, data)] of a text/event-stream body."""
    out = []
    for block in text.split("\n\n"):
        fields = {}
        for line in block.split("\n"):
            if line and not line.startswith(":") and ": " in line:
                k, v = line.split(": ", 1)
                fields[k] = v
        if "event" in fields:
            out.append((fields.get("id", ""), fields["event"], fields.get("data", "")))
    return out


class Tokens(unittest.TestCase):
    """A gateway with TLS and tokens, dialling a search service that wants
    the gateway's own (different) token."""

    def test_tokens_tls_and_cookie(self):
        tmp = tempfile.mkdtemp(dir=TMP)
        run = lambda *a: subprocess.run(a, cwd=tmp, check=True, capture_output=True)  # noqa
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "2", "-subj",
            "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1")
        token, backend_token = "caller-token-0123456789abcdef", "backend-token-0123456789abcdef"
        with open(os.path.join(tmp, "tokens"), "w") as f:
            f.write(f"# callers\n{token}\n")
        with open(os.path.join(tmp, "backend-tokens"), "w") as f:
            f.write(backend_token + "\n")
        search = gs.Stack(BIN, tmp, services=("search",), addresses={"encoder": "127.0.0.1:1"},
                          backend_flags=[f"--auth_tokens_file={tmp}/backend-tokens",
                                         "--allow_insecure_tokens"])
        gw = gs.Stack(BIN, tmp, services=("gateway",), addresses={"search": search.addr["search"]},
                      gateway_flags=[f"--tls_cert={tmp}/cert.pem", f"--tls_key={tmp}/key.pem",
                                     f"--auth_tokens_file={tmp}/tokens",
                                     f"--backend_token_file={tmp}/backend-tokens"])
        try:
            ca = os.path.join(tmp, "cert.pem")
            anon = gs.Client(gw.addr["gateway"], tls_ca=ca)
            self.assertEqual(anon.get("/healthz"), {"status": "ok"})  # probes stay open
            self.assertEqual(anon.get("/v1/session")["authRequired"], True)
            for client in (anon, gs.Client(gw.addr["gateway"], tls_ca=ca, token="wrong" * 5)):
                for path in ("/v1/collections", "/v1/thumbnails?uri=x", "/v1/jobs/j/events"):
                    with self.assertRaises(gs.HttpError) as e:
                        client.get(path)
                    self.assertEqual(e.exception.status, 401)
                    self.assertEqual(e.exception.json()["error"]["code"], "UNAUTHENTICATED")
            ok = gs.Client(gw.addr["gateway"], tls_ca=ca, token=token)
            ok.post("/v1/collections", {"name": "tok", "dim": 2})  # the backend token works
            self.assertEqual([c["name"] for c in ok.get("/v1/collections")["collections"]],
                             ["tok"])
            with self.assertRaises(gs.HttpError) as e:
                anon.post("/v1/session", {"token": "wrong-token-0123456789"})
            self.assertEqual(e.exception.status, 401)
            _, headers, _ = anon.request("POST", "/v1/session", {"token": token})
            cookie = headers["Set-Cookie"]
            for attr in ("HttpOnly", "SameSite=Strict", "Secure", "Path=/"):
                self.assertIn(attr, cookie)
            with_cookie = gs.Client(gw.addr["gateway"], tls_ca=ca, cookie=cookie.split(";")[0])
            self.assertEqual(with_cookie.get("/v1/session")["signedIn"], True)
            self.assertEqual(len(with_cookie.get("/v1/collections")["collections"]), 1)
            # plain HTTP to the TLS port fails
            with self.assertRaises(Exception):
                gs.Client(gw.addr["gateway"]).get("/healthz")
            # tokens without TLS need --allow_insecure_tokens
            p = subprocess.run([f"{BIN}/latentsearch-gateway", "--listen=127.0.0.1:0",
                                f"--auth_tokens_file={tmp}/tokens"], capture_output=True,
                               timeout=30)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn(b"--allow_insecure_tokens", p.stderr)
        finally:
            gw.stop()
            search.stop()


class MutualTls(unittest.TestCase):
    """--tls_client_ca: a client without a certificate the CA signed is
    refused during the handshake; one with it is served."""

    def test_client_certificate_required(self):
        import ssl
        tmp = tempfile.mkdtemp(dir=TMP)
        run = lambda *a: subprocess.run(a, cwd=tmp, check=True, capture_output=True)  # noqa
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        run("openssl", "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=test CA")
        for name, ext in (("server", "subjectAltName=IP:127.0.0.1"),
                          ("client", "extendedKeyUsage=clientAuth")):
            run("openssl", "req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}")
            with open(os.path.join(tmp, f"{name}.ext"), "w") as f:
                f.write(ext + "\n")
            run("openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey",
                "ca.key", "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out",
                f"{name}.pem")
        gw = gs.Stack(BIN, tmp, services=("gateway",), gateway_flags=[
            f"--tls_cert={tmp}/server.pem", f"--tls_key={tmp}/server.key",
            f"--tls_client_ca={tmp}/ca.pem"])
        try:
            host, port = gw.addr["gateway"].rsplit(":", 1)
            import http.client
            ctx = ssl.create_default_context(cafile=os.path.join(tmp, "ca.pem"))
            with self.assertRaises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
                c = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
                c.request("GET", "/healthz")
                c.getresponse().read()
            ctx.load_cert_chain(os.path.join(tmp, "client.pem"), os.path.join(tmp, "client.key"))
            c = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
            c.request("GET", "/healthz")
            r = c.getresponse()
            self.assertEqual((r.status, json.loads(r.read())), (200, {"status": "ok"}))
        finally:
            gw.stop()


class ZRouteTableWalk(unittest.TestCase):
    """Runs last: unittest orders a module's classes by name."""

    def test_every_route_exercised_and_every_rpc_mapped(self):
        doc = STACK.client().get("/v1/openapi.json")
        ops = {}
        for path, item in doc["paths"].items():
            for method, op in item.items():
                ops[op["operationId"]] = (method.upper(), path, op.get("x-grpc-method", ""))
        # every RPC of the three services but PushCheckpoint has a route
        rpcs = set()
        for service in ("trainer", "encoder", "search"):
            text = open(os.path.join(SOURCE, "protos/latentsearch/v1", f"{service}.proto")).read()
            svc = re.search(r"service (\w+) \{", text).group(1)
            rpcs |= {f"latentsearch.v1.{svc}/{m}" for m in re.findall(r"rpc (\w+)\(", text)}
        mapped = {g for _, _, g in ops.values() if g}
        self.assertEqual(rpcs - mapped, {"latentsearch.v1.Encoder/PushCheckpoint"},
                         "an RPC without a route: add it to services/gateway/routes.cc")
        self.assertEqual(mapped - rpcs, set())
        # every route was called with success and with an error
        for op, (method, path, _) in sorted(ops.items()):
            want = {"ok"} if op in NO_ERROR_CASE else {"ok", "error"}
            self.assertTrue(want <= SEEN.get(op, set()),
                            f"{op} ({method} {path}) exercised: {SEEN.get(op, set())}")


if __name__ == "__main__":
    if not gs.have_fashion():
        print("skipped: no Fashion-MNIST at", gs.FASHION)
        sys.exit(77)
    import warnings
    warnings.simplefilter("ignore", ResourceWarning)  # keep-alive sockets closed at exit
    unittest.main(argv=sys.argv[:1], verbosity=2)
