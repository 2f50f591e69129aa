#!/usr/bin/python3
"""End to end through the `latentsearch` CLI, with the real binaries on unix
sockets and real Fashion-MNIST (Debian's dataset-fashion-mnist):

  latentsearch train   (2 epochs of conv, latent 32; follows the job until it ends)
  latentsearch ingest  (the 10,000 test images)
  latentsearch eval --json
  latentsearch query --sheet
  latentsearch report

Asserts: precision@10 of the model beats the raw-pixel baseline for at least
one metric; HNSW recall@10 against exact >= 0.99 for every metric; every
report file exists and is a valid PNG (signature + IHDR with sane
dimensions) or HTML page; the query sheet has the size query.h promises;
index.html references every PNG. Exit 77 (skipped) without the data set.

Usage: cli_pipeline_test.py BUILD_DIR [--cli=PATH] [--epochs=N] [--train_seconds=S]
                           [--keep=DIR]   (copy the report there)
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

FASHION = os.environ.get("LS_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")


def log(msg):
    print(msg, flush=True)


def png_size(path):
    """(width, height) of a PNG file, or raises ValueError."""
    with open(path, "rb") as f:
        head = f.read(33)
    if len(head) < 33 or head[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG (signature)")
    length, kind = struct.unpack(">I4s", head[8:16])
    if kind != b"IHDR" or length != 13:
        raise ValueError(f"{path}: first chunk is {kind!r}, not IHDR")
    width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
    if not (0 < width <= 20000 and 0 < height <= 20000) or depth not in (1, 2, 4, 8, 16):
        raise ValueError(f"{path}: implausible IHDR {width}x{height} depth {depth}")
    return width, height


class Services:
    """The three services on unix sockets in `tmp`; stopped with SIGTERM."""

    def __init__(self, bin_dir, tmp, logs):
        self.procs = []
        self.tmp = tmp
        self.addr = {n: f"unix:{tmp}/{n}.sock" for n in ("trainer", "encoder", "search")}
        env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
        specs = [
            ("encoder", [f"{bin_dir}/latentsearch-encoder", f"--listen={self.addr['encoder']}",
                         f"--data_dir={tmp}/encoder-data"]),
            ("search", [f"{bin_dir}/latentsearch-search", f"--listen={self.addr['search']}",
                        f"--data_dir={tmp}/search-data", f"--encoder={self.addr['encoder']}"]),
            ("trainer", [f"{bin_dir}/latentsearch-trainer", f"--listen={self.addr['trainer']}",
                         f"--data_dir={tmp}/trainer-data", f"--push_to={self.addr['encoder']}"]),
        ]
        for name, argv in specs:
            logf = open(os.path.join(logs, f"{name}.log"), "wb")
            self.procs.append((name, subprocess.Popen(argv, stderr=logf, stdout=logf, env=env),
                               os.path.join(logs, f"{name}.log")))
        deadline = time.time() + 120
        for name, proc, path in self.procs:
            while True:  # poll each log for its readiness line, with a deadline
                with open(path, "rb") as f:
                    if b"listening on" in f.read():
                        break
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}: "
                                       + open(path, errors="replace").read()[-2000:])
                if time.time() > deadline:
                    raise RuntimeError(f"{name} did not start within 120 s")
                time.sleep(0.05)

    def flags(self, *names):
        return [f"--{n}_address={self.addr[n]}" for n in names]

    def stop(self):
        for _, proc, _ in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for name, proc, _ in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


def run(cli, *args, check=True, capture=True):
    cmd = [cli] + list(args)
    log("$ latentsearch " + " ".join(args))
    t0 = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.PIPE, text=True)
    if p.stderr:
        sys.stdout.write("".join("  | " + l + "\n" for l in p.stderr.splitlines()[-25:]))
    log(f"  exit {p.returncode} after {time.time() - t0:.1f} s")
    if check and p.returncode != 0:
        raise RuntimeError(f"latentsearch {args[0]} failed with exit code {p.returncode}")
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build_dir")
    ap.add_argument("--cli", default="")
    # Two epochs (1,688 steps of 64 images), not a time budget: the model, and
    # so the precision it reaches, is then the same on a slow or shared
    # machine (seeded; equal thread counts give bit-identical training).
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--train_seconds", type=float, default=0,
                    help="optional time budget on top of --epochs (0 = none)")
    ap.add_argument("--keep", default="")
    args = ap.parse_args()
    if not os.path.exists(os.path.join(FASHION, "t10k-labels-idx1-ubyte.gz")):
        print(f"Fashion-MNIST not installed at {FASHION}; skipping")
        return 77
    bin_dir = os.path.join(os.path.abspath(args.build_dir), "bin")
    cli = args.cli or os.path.join(bin_dir, "latentsearch")
    # Unix socket paths must stay short: use /tmp, not a deep build tree.
    tmp = tempfile.mkdtemp(prefix="ls-e2e-")
    failures = []
    services = None
    try:
        services = Services(bin_dir, tmp, tmp)
        data = [f"--dataset=idx", f"--path={FASHION}"]

        # 1. Train (follows the job until it ends; the checkpoint is pushed).
        run(cli, "train", *data, "--split=train", "--architecture=conv", "--latent=32",
            f"--epochs={args.epochs}", "--batch_size=64", f"--time_budget={args.train_seconds}",
            "--model=e2e", "--checkpoint=end", "--train_seed=1", "--timeout=60",
            *services.flags("trainer"))

        # 2. Ingest the test split. The push to the encoder may land just after
        # the job ends: retry while the encoder does not hold the model yet.
        deadline = time.time() + 120
        while True:
            p = run(cli, "ingest", *data, "--split=test", "--model=e2e",
                    "--collection=e2e", "--timeout=120",
                    *services.flags("encoder", "search"), check=False)
            if p.returncode == 0:
                break
            if time.time() > deadline or not any(
                    c in p.stderr for c in ("NOT_FOUND", "UNAVAILABLE")):
                raise RuntimeError("ingest failed")
            time.sleep(0.5)

        # 3. Eval (JSON).
        p = run(cli, "eval", "--collection=e2e", "--queries=300", "--json",
                "--timeout=300", *services.flags("search"))
        ev = json.loads(p.stdout)
        rows = ev["rows"]
        model = {(r["metric"], r["index"]): r for r in rows if r["source"] == "model"}
        raw = {r["metric"]: r for r in rows if r["source"] != "model"}
        beats = []
        for metric in ("l1", "l2", "cosine"):
            m = model[(metric, "exact")]["precision_at_k"]
            b = raw[metric]["precision_at_k"] if metric in raw else float("nan")
            rec = model[(metric, "hnsw")]["recall_vs_exact"]
            log(f"  {metric:6s} precision@10 model {m:.3f}  raw pixels {b:.3f}  "
                f"HNSW recall@10 {rec:.4f}")
            if m > b:
                beats.append(metric)
            if rec < 0.99:
                failures.append(f"{metric}: HNSW recall@10 {rec:.4f} < 0.99")
        if not raw:
            failures.append("eval has no raw-pixel rows")
        if not beats:
            failures.append("the model's precision@10 beats raw pixels for no metric")

        # 4. Query with a contact sheet; the size is query.h's formula.
        sheet = os.path.join(tmp, "sheet.png")
        run(cli, "query", "--collection=e2e", "--id=test-0", "--metric=all", "--k=10",
            f"--sheet={sheet}", *services.flags("search"))
        k, rows_n, tile, margin, caption = 10, 3, 80, 2, 11
        want = ((k + 1) * tile + (k + 2) * margin, rows_n * (tile + caption) + (rows_n + 1) * margin)
        got = png_size(sheet)
        log(f"  query sheet {got[0]}x{got[1]} (expected {want[0]}x{want[1]})")
        if got != want:
            failures.append(f"query sheet is {got}, expected {want}")

        # 5. Report.
        report = os.path.join(tmp, "report")
        p = run(cli, "report", f"--out={report}", "--collection=e2e", "--queries=200",
                "--map_images=1000", "--timeout=300",
                *services.flags("trainer", "encoder", "search"))
        listed = [l for l in p.stdout.splitlines() if l.strip()]
        if "warning:" in p.stderr:
            failures.append("report left sections out: " +
                            "; ".join(l for l in p.stderr.splitlines() if "warning:" in l))
        expected = {"index.html", "samples.png", "reconstructions.png", "loss.png",
                    "latent_matrix.png", "latent_pca.png", "pixels_pca.png", "eval.png",
                    "query-1.png", "query-2.png", "query-3.png"}
        present = set(os.listdir(report))
        for name in sorted(expected - present):
            failures.append(f"report file {name} is missing")
        for path in listed:
            if not os.path.exists(path):
                failures.append(f"report lists {path}, which does not exist")
        html = ""
        for name in sorted(present):
            path = os.path.join(report, name)
            if name.endswith(".png"):
                try:
                    w, h = png_size(path)
                    log(f"  report/{name}: PNG {w}x{h}, {os.path.getsize(path)} bytes")
                except ValueError as e:
                    failures.append(str(e))
            elif name.endswith(".html"):
                html = open(path, encoding="utf-8").read()
                ok = html.lstrip().lower().startswith("<!doctype html") and \
                    html.rstrip().endswith("</html>")
                log(f"  report/{name}: HTML, {len(html)} bytes")
                if not ok:
                    failures.append(f"{name} is not a complete HTML document")
            else:
                failures.append(f"report file {name} is neither PNG nor HTML")
        for name in sorted(present):
            if name.endswith(".png") and f'src="{name}"' not in html:
                failures.append(f"index.html does not show {name}")
        if args.keep:
            shutil.rmtree(args.keep, ignore_errors=True)
            shutil.copytree(report, args.keep)
            shutil.copy(sheet, args.keep.rstrip("/") + "-query-sheet.png")
    finally:
        if services:
            services.stop()
        if failures or os.environ.get("LS_E2E_KEEP_LOGS"):
            for name in ("trainer", "encoder", "search"):
                path = os.path.join(tmp, f"{name}.log")
                if os.path.exists(path):
                    log(f"--- {name}.log (tail)")
                    log(open(path, errors="replace").read()[-1500:])
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        log("FAILED:\n  " + "\n  ".join(failures))
        return 1
    log("PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
