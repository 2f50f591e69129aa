#!/usr/bin/python3
"""Structural checks of the deployment files (ctest deploy.manifests).

deploy/k8s (plain YAML + kustomization.yaml):
  - every file is listed in kustomization.yaml and every listed file exists;
  - kinds and apiVersions are the expected ones, names are DNS-1123 labels,
    everything is in the one namespace;
  - trainer, encoder and the search routers are Deployments; the search nodes
    and etcd StatefulSets with PersistentVolumeClaim templates and headless
    governing Services;
  - selectors match the pod template labels; every Service, PodDisruptionBudget
    and NetworkPolicy selects a workload, and its (target) ports exist on that
    workload's containers;
  - every container has an image, cpu+memory requests <= limits, startup,
    liveness and readiness probes; exec probes run latentsearch-probe at a
    port the container listens on (--listen) and declares (containerPort);
  - every volumeMount names a volume (or claim template); PVC, Secret and
    ConfigMap references resolve, keys included; files passed in args
    (/etc/latentsearch/...) lie in a mounted Secret that has that key;
  - $(VAR) in args is defined in the container's env;
  - every --flag in args and probe commands is defined (ABSL_FLAG) in the
    sources of that binary (etcd's flags: from `etcd --help` when installed);
  - addresses in the ConfigMap name an existing Service and one of its ports;
  - the search cluster (docs/cluster.md): nodes are a StatefulSet of >= 3 with
    required anti-affinity per machine, parallel pod management, a
    PodDisruptionBudget of maxUnavailable 1, a headless Service that publishes
    not-ready pods, --advertise = the pod's stable name under it, no
    --encoder, readiness on latentsearch.v1.SearchNode, startup/liveness on the
    whole server, peer TLS/token flags when they serve TLS/tokens; routers a
    Deployment of >= 2 with --encoder, readiness on latentsearch.v1.Search,
    behind a headless Service of ready pods, with a PodDisruptionBudget; etcd's
    --initial-cluster names exactly its StatefulSet's pods, and ETCD_ENDPOINTS
    lists every member's client URL;
  - make-secrets.sh produces the same Secrets (names, types, keys) with a
    certificate that chains to its CA and names every --tls_server_name used.
deploy/docker-compose.yml (structure; `docker-compose config` runs too when
installed): health-gated depends_on, CMD-SHELL healthchecks through
latentsearch-probe (etcd: etcdctl endpoint health), init: true, ports on
127.0.0.1 by default and distinct, named volumes, flags defined in the
sources; the cluster: etcd, >= 3 nodes each advertising its own service name
with its own volume, healthchecks on latentsearch.v1.SearchNode and no
--encoder, >= 2 routers sharing the network alias `search` (and nothing else
holding that name), routers and nodes after etcd, the cli after the routers.
Prints one line per group of checks; exits 1 listing every problem found.
The checks live in k8s_checks.py and compose_checks.py (helpers:
manifest_util.py).
"""
import argparse
import sys

from compose_checks import check_compose
from k8s_checks import K8s
from manifest_util import problems


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--source_dir", required=True)
    args = parser.parse_args()
    K8s(args.source_dir).check()
    check_compose(args.source_dir)
    if problems:
        print(f"{len(problems)} problem(s):")
        for p in problems:
            print("  " + p)
        return 1
    print("deploy files OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
