#!/usr/bin/python3
"""Checks the checker (ctest deploy.manifests_mutations): each mutation below
breaks one rule of the manifests (search cluster, encoder replicas) in a copy
of deploy/, and
validate_deploy.py must fail naming it. The unmutated copy must pass.
Prints one line per mutation; exits 1 when a mutation went unnoticed.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# (file under deploy/, text to replace, replacement, words the report must contain)
MUTATIONS = [
    ("k8s/search-node.yaml", "requiredDuringSchedulingIgnoredDuringExecution",
     "preferredDuringSchedulingIgnoredDuringExecution", "podAntiAffinity"),
    ("k8s/search-node.yaml", "kind: PodDisruptionBudget", "kind: PodDisruptionBudgetX",
     "no PodDisruptionBudget selects its pods"),
    ("k8s/search-node.yaml", "  maxUnavailable: 1\n", "  maxUnavailable: 2\n",
     "maxUnavailable: 1"),
    ("k8s/search-node.yaml", "--service=latentsearch.v1.SearchNode",
     "--service=latentsearch.v1.Search", "readinessProbe must ask for latentsearch.v1.SearchNode"),
    ("k8s/search-node.yaml", "--advertise=$(POD_NAME).latentsearch-search-node:50053",
     "--advertise=$(POD_IP):50053", "--advertise must be"),
    ("k8s/search-node.yaml", "            - --role=node\n",
     "            - --role=node\n            - --encoder=latentsearch-encoder:50052\n",
     "must not hold --encoder"),
    ("k8s/search-node.yaml", "  publishNotReadyAddresses: true\n", "",
     "must publish not-ready pods"),
    ("k8s/search-node.yaml", "  podManagementPolicy: Parallel\n", "",
     "podManagementPolicy must be Parallel"),
    ("k8s/search-node.yaml", "            - --peer_token_file=/etc/latentsearch/auth/tokens\n", "",
     "--peer_token_file is missing"),
    ("k8s/search.yaml", "  clusterIP: None\n", "", "must be headless"),
    ("k8s/search.yaml", "--service=latentsearch.v1.Search\"", "--service=latentsearch.v1.X\"",
     "readinessProbe must ask for latentsearch.v1.Search"),
    ("k8s/search.yaml", "  replicas: 2\n", "  replicas: 1\n", "fewer than 2 routers"),
    ("k8s/etcd.yaml", "latentsearch-etcd-2=http://latentsearch-etcd-2.latentsearch-etcd:2380",
     "latentsearch-etcd-3=http://latentsearch-etcd-3.latentsearch-etcd:2380",
     "--initial-cluster must name"),
    ("k8s/config.yaml", ",http://latentsearch-etcd-2.latentsearch-etcd:2379", "",
     "must list every member"),
    ("k8s/encoder.yaml", "  replicas: 2\n", "  replicas: 1\n", "fewer than 2 encoders"),
    ("k8s/encoder.yaml", "            - --pull_from=$(TRAINER_ADDRESS)\n", "",
     "--pull_from is missing"),
    ("k8s/encoder.yaml", "  clusterIP: None\n  selector:", "  selector:",
     "Service/latentsearch-encoder: must be headless"),
    ("k8s/config.yaml", "PUSH_TO: \"dns:///latentsearch-encoder-push:50052\"",
     "PUSH_TO: \"latentsearch-encoder-push:50052\"", "PUSH_TO=latentsearch-encoder-push:50052"),
    ("docker-compose.yml", "      aliases: [encoders]\n", "      aliases: [encoder-pool]\n",
     "network alias 'encoders'"),
    ("docker-compose.yml", "      - encoder-1-data:/var/lib/latentsearch/encoder\n",
     "      - encoder-data:/var/lib/latentsearch/encoder\n", "shares volume encoder-data"),
    ("docker-compose.yml", "--push_to=${LS_PUSH_TO:-dns:///encoders:50052}",
     "--push_to=${LS_PUSH_TO:-encoder:50052}", "--push_to must include dns:///encoders:50052"),
    ("docker-compose.yml", "    --pull_from=${LS_ENCODER_PULL_FROM:-trainer:50051}\n", "",
     "--pull_from is missing"),
    ("docker-compose.yml", "      aliases: [search]\n", "      aliases: [search-routers]\n",
     "network alias 'search'"),
    ("docker-compose.yml", "--service=latentsearch.v1.SearchNode", "--service=",
     "healthcheck must ask for latentsearch.v1.SearchNode"),
    ("docker-compose.yml", "--advertise=search-node-1:50053", "--advertise=search-node-0:50053",
     "--advertise must be search-node-1:50053"),
    ("docker-compose.yml", "      - search-node-2-data:/var/lib/latentsearch/search\n",
     "      - search-node-1-data:/var/lib/latentsearch/search\n", "shares volume"),
    ("docker-compose.yml", "      --advertise=search-node-2:50053\n",
     "      --advertise=search-node-2:50053\n      --encoder=encoder:50052\n",
     "must not hold --encoder"),
]


def run(source):
    out = subprocess.run([sys.executable, "-B", os.path.join(HERE, "validate_deploy.py"),
                          f"--source_dir={source}"], capture_output=True, text=True, timeout=120)
    return out.returncode, out.stdout + out.stderr


def copy_tree(source_dir, tmp):
    """deploy/ copied; the source folders the flag checks read, linked."""
    shutil.copytree(os.path.join(source_dir, "deploy"), os.path.join(tmp, "deploy"))
    for d in ("services", "clients", "common"):
        os.symlink(os.path.join(source_dir, d), os.path.join(tmp, d))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--source_dir", required=True)
    args = parser.parse_args()
    source_dir = os.path.abspath(args.source_dir)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        copy_tree(source_dir, tmp)
        rc, out = run(tmp)
        if rc != 0:
            print(f"the unmutated copy fails:\n{out}")
            return 1
        for path, old, new, expect in MUTATIONS:
            full = os.path.join(tmp, "deploy", path)
            with open(full, encoding="utf-8") as f:
                text = f.read()
            if text.count(old) < 1:
                print(f"FAIL {path}: '{old.strip()}' not found (update the mutation)")
                failures += 1
                continue
            with open(full, "w", encoding="utf-8") as f:
                f.write(text.replace(old, new, 1))
            rc, out = run(tmp)
            with open(full, "w", encoding="utf-8") as f:
                f.write(text)
            caught = rc != 0 and expect in out
            print(f"{'ok  ' if caught else 'FAIL'} {path}: '{old.strip()[:50]}' -> "
                  f"'{new.strip()[:50]}' {'reported' if caught else 'NOT reported'} ({expect})")
            if not caught:
                failures += 1
                print(out)
    print(f"{len(MUTATIONS) - failures} of {len(MUTATIONS)} mutations reported")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
