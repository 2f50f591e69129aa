"""The latentsearch stack for the gateway's tests, on loopback with port 0:
latentsearch-trainer, -encoder, -search (with --encoder) and -gateway, each
started with its readiness line awaited ("listening on ADDR" in its log),
stopped with SIGTERM. Also: a small HTTP client that keeps the JSON error
body of failed requests, Fashion-MNIST's IDX test images as PNG bytes, a
short training job and an ingest of test images through the gateway.

Used by gateway_contract_test.py and ../../e2e/gateway/console_test.py.
Runs with Debian's /usr/bin/python3 (stdlib only here).
"""
import base64
import gzip
import http.client
import json
import os
import re
import ssl
import struct
import subprocess
import time
import urllib.parse
import zlib

FASHION = os.environ.get("LS_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")


def png_bytes(height, width, channels, pixels):
    """A PNG file of 8-bit grey (1) or RGB (3) pixels, HWC bytes."""
    colour = {1: 0, 3: 2}[channels]
    rows = b"".join(b"\x00" + pixels[y * width * channels:(y + 1) * width * channels]
                    for y in range(height))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _open_idx(path):
    for candidate in (path, path + ".gz"):
        if os.path.exists(candidate):
            return gzip.open(candidate, "rb") if candidate.endswith(".gz") else open(candidate, "rb")
    raise FileNotFoundError(path)


def fashion_test_images(count):
    """The first `count` Fashion-MNIST test images: [(pixels 784 bytes, label)]."""
    with _open_idx(os.path.join(FASHION, "t10k-images-idx3-ubyte")) as f:
        _, n, h, w = struct.unpack(">IIII", f.read(16))
        data = f.read(count * h * w)
    with _open_idx(os.path.join(FASHION, "t10k-labels-idx1-ubyte")) as f:
        f.read(8)
        labels = f.read(count)
    return [(data[i * h * w:(i + 1) * h * w], labels[i]) for i in range(min(count, n))]


def have_fashion():
    return any(os.path.exists(os.path.join(FASHION, "t10k-images-idx3-ubyte" + s))
               for s in ("", ".gz"))


class HttpError(Exception):
    def __init__(self, status, body, headers):
        super().__init__(f"HTTP {status}: {body[:300]!r}")
        self.status = status
        self.body = body
        self.headers = headers

    def json(self):
        return json.loads(self.body)


class Client:
    """HTTP(S) to the gateway over one keep-alive connection."""

    def __init__(self, address, tls_ca=None, token=None, cookie=None):
        host, port = address.rsplit(":", 1)
        if tls_ca:
            ctx = ssl.create_default_context(cafile=tls_ca)
            self.conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=120)
        else:
            self.conn = http.client.HTTPConnection(host, int(port), timeout=120)
        self.token = token
        self.cookie = cookie

    def request(self, method, path, body=None, content_type=None, headers=None, raw=False):
        """(status, headers, body bytes or parsed JSON); HttpError for >= 400."""
        h = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            content_type = content_type or "application/json"
        if content_type:
            h["Content-Type"] = content_type
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        if self.cookie:
            h["Cookie"] = self.cookie
        try:
            self.conn.request(method, path, body=body, headers=h)
            resp = self.conn.getresponse()
            data = resp.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            raise
        if resp.getheader("Connection", "").lower() == "close":
            self.conn.close()
        if resp.status >= 400:
            raise HttpError(resp.status, data.decode(errors="replace"), resp.headers)
        if raw or not resp.getheader("Content-Type", "").startswith("application/json"):
            return resp.status, resp.headers, data
        return resp.status, resp.headers, json.loads(data)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)[2]

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)[2]


def wait_for_line(path, proc, pattern, timeout=120):
    """The first match of `pattern` in the log at `path` (polled, with a deadline)."""
    deadline = time.time() + timeout
    rx = re.compile(pattern)
    while time.time() < deadline:
        with open(path, "rb") as f:
            m = rx.search(f.read().decode(errors="replace"))
        if m:
            return m.group(1)
        if proc.poll() is not None:
            raise RuntimeError(f"{path}: exited with {proc.returncode}: "
                               + open(path, errors="replace").read()[-3000:])
        time.sleep(0.02)
    raise RuntimeError(f"{path}: no '{pattern}' within {timeout} s")


class Stack:
    """Starts what `services` names ("trainer", "encoder", "search",
    "gateway") in `tmp`; gateway_flags are extra gateway flags;
    backend_flags extra flags for every backend."""

    def __init__(self, bin_dir, tmp, gateway_flags=(), backend_flags=(),
                 services=("encoder", "search", "trainer", "gateway"), addresses=None):
        self.bin = bin_dir
        self.tmp = tmp
        self.procs = {}
        self.addr = dict(addresses or {})
        self.logs = {}
        env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", OPENBLAS_NUM_THREADS="1")
        for name in services:
            argv = self._argv(name, gateway_flags, backend_flags)
            self.logs[name] = os.path.join(tmp, f"{name}.log")
            logf = open(self.logs[name], "wb")
            self.procs[name] = subprocess.Popen(argv, stdout=logf, stderr=logf, env=env)
            self.addr[name] = wait_for_line(self.logs[name], self.procs[name],
                                            r"listening on (\S+)")
            if name == "gateway":
                m = re.search(r"metrics listening on (\S+)", open(self.logs[name]).read())
                self.addr["gateway_metrics"] = m.group(1) if m else None

    def _argv(self, name, gateway_flags, backend_flags):
        b = self.bin
        if name == "encoder":
            return [f"{b}/latentsearch-encoder", "--listen=127.0.0.1:0",
                    f"--data_dir={self.tmp}/encoder-data", *backend_flags]
        if name == "search":
            return [f"{b}/latentsearch-search", "--listen=127.0.0.1:0", "--threads=1",
                    f"--data_dir={self.tmp}/search-data",
                    f"--encoder={self.addr['encoder']}", *backend_flags]
        if name == "trainer":
            return [f"{b}/latentsearch-trainer", "--listen=127.0.0.1:0",
                    f"--data_dir={self.tmp}/trainer-data", f"--push_to={self.addr['encoder']}",
                    "--threads=1", *backend_flags]
        return [f"{b}/latentsearch-gateway", "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
                f"--trainer_address={self.addr.get('trainer', '127.0.0.1:1')}",
                f"--encoder_address={self.addr.get('encoder', '127.0.0.1:1')}",
                f"--search_address={self.addr.get('search', '127.0.0.1:1')}",
                f"--console_dir={os.path.join(os.path.dirname(b), 'console')}", *gateway_flags]

    def stop(self, name=None):
        for n in ([name] if name else list(self.procs)[::-1]):
            p = self.procs.pop(n, None)
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    def client(self, **kw):
        return Client(self.addr["gateway"], **kw)


def train_config(model="fm", max_images=2000, epochs=1, **extra):
    config = {"dataset": {"idxDir": FASHION, "maxImages": str(max_images)}, "modelName": model,
              "architecture": "conv", "latentSize": 16, "epochs": epochs, "batchSize": 64,
              "checkpointPolicy": "CHECKPOINT_POLICY_END", "threads": 1, "seed": "1"}
    config.update(extra)
    return {"config": config}


def wait_job(client, job_id, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get(f"/v1/jobs/{job_id}")
        if job["state"] in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_STOPPED"):
            return job
        time.sleep(0.1)
    raise RuntimeError(f"{job_id} did not end within {timeout} s")


def wait_model(client, name, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        models = client.get(f"/v1/models?name={name}")["models"]
        if models:
            return models[0]
        time.sleep(0.1)
    raise RuntimeError(f"model {name} never reached the encoder")


def ingest(client, collection, model, images, batch=1):
    """Encodes `images` [(pixels, label)] through the gateway (raw pixels in
    JSON) and upserts them as test-I with data-set uris. One image per
    Encode call by default, as a query image is encoded: the model's
    kernels may round differently for other batch sizes, and the tests
    expect an indexed image to find itself at distance <= 1e-5."""
    newest = wait_model(client, model)["metadata"]["model"]  # pin its concrete version
    client.post("/v1/collections", {"name": collection, "dim": 16, "model": newest,
                                    "ifNotExists": True})
    info = client.get(f"/v1/collections/{collection}")
    pending = []
    for start in range(0, len(images), batch):
        chunk = images[start:start + batch]
        enc = client.post(f"/v1/models/{model}:encode?model.version={info['model']['version']}", {
            "images": [{"raw": {"height": 28, "width": 28, "channels": 1,
                                "pixels": base64.b64encode(p).decode()}} for p, _ in chunk]})
        items = [{"id": f"test-{start + i}", "vector": e["values"], "label": chunk[i][1],
                  "uri": f"idx:test:{start + i}:{FASHION}"}
                 for i, e in enumerate(enc["embeddings"])]
        pending.extend(items)
        if len(pending) >= 500 or start + batch >= len(images):
            client.post(f"/v1/collections/{urllib.parse.quote(collection)}/items",
                        {"items": pending})
            pending = []
    return info
