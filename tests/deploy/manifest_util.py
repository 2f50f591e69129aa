"""Helpers shared by the deployment checks (validate_deploy.py): the list of
problems found, flag parsing and the flags each binary defines.
Not thread-safe (one checker run per process)."""
import glob
import os
import re
import shutil
import subprocess

import yaml

NAMESPACE = "latentsearch"
API_VERSIONS = {
    "Namespace": "v1", "ConfigMap": "v1", "Secret": "v1", "Service": "v1",
    "PersistentVolumeClaim": "v1", "Deployment": "apps/v1", "StatefulSet": "apps/v1",
    "PodDisruptionBudget": "policy/v1", "NetworkPolicy": "networking.k8s.io/v1",
}
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Binary -> the source directories whose ABSL_FLAGs it links.
BINARY_SOURCES = {
    "latentsearch-trainer": ["services/trainer", "services/common", "common"],
    "latentsearch-encoder": ["services/encoder", "services/common", "common"],
    "latentsearch-search": ["services/search", "services/common", "common"],
    "latentsearch-probe": ["clients/probe", "common"],
    "latentsearch": ["clients/cli", "common"],
    "latentsearch-gateway": ["services/gateway", "services/common", "common"],
}
IMAGE_BINARY = re.compile(r"latentsearch-(trainer|encoder|search|cli|etcd|gateway)\b")
# The workloads of deploy/k8s: (kind, name).
K8S_WORKLOADS = [("StatefulSet", "latentsearch-trainer"), ("Deployment", "latentsearch-encoder"),
                 ("Deployment", "latentsearch-search"), ("StatefulSet", "latentsearch-search-node"),
                 ("StatefulSet", "latentsearch-etcd"), ("Deployment", "latentsearch-gateway")]
NODE_HEALTH = "latentsearch.v1.SearchNode"
ROUTER_HEALTH = "latentsearch.v1.Search"

problems = []


def problem(where, what):
    problems.append(f"{where}: {what}")


def binary_of(image):
    """The binary an image runs ('etcd' for the etcd image), or None."""
    m = IMAGE_BINARY.search(str(image or ""))
    if not m:
        return None
    return {"cli": "latentsearch", "etcd": "etcd"}.get(m.group(1), f"latentsearch-{m.group(1)}")


def flags_of(source_dir, binary):
    """The flag names a binary accepts; None when they cannot be known."""
    if binary == "etcd":
        if shutil.which("etcd") is None:
            return None
        out = subprocess.run(["etcd", "--help"], capture_output=True, text=True, timeout=30)
        return set(re.findall(r"--([a-z0-9-]+)", out.stdout + out.stderr))
    names = set()
    for d in BINARY_SOURCES[binary]:
        for path in glob.glob(os.path.join(source_dir, d, "**", "*.cc"), recursive=True):
            with open(path, encoding="utf-8", errors="replace") as f:
                names.update(re.findall(r"ABSL_FLAG\(\s*[\w:<>]+\s*,\s*(\w+)\s*,", f.read()))
    return names


def check_flags(where, binary, argv, source_dir, cache):
    if binary not in cache:
        cache[binary] = flags_of(source_dir, binary)
    if cache[binary] is None:
        return
    for arg in argv:
        m = re.match(r"^--(no)?([a-z_0-9-]+)(=|$)", arg)
        if not m:
            continue
        name = m.group(2)
        if name not in cache[binary] and not (m.group(1) and name in cache[binary]):
            source = ("`etcd --help`" if binary == "etcd" else
                      "no ABSL_FLAG in " + ", ".join(BINARY_SOURCES[binary]))
            problem(where, f"flag --{name} is not defined by {binary} ({source})")


def flag(argv, name):
    """The value of --name=VALUE in argv (the last one), or None."""
    value = None
    for a in argv:
        if a.startswith(f"--{name}="):
            value = a.split("=", 1)[1]
    return value


def has_flag(argv, name):
    return any(a == f"--{name}" or a.startswith(f"--{name}=") for a in argv)


def listen_port(binary, argv):
    """The port a container serves its main protocol on, as a string."""
    value = flag(argv, "listen-client-urls" if binary == "etcd" else "listen")
    if value is None:
        return None
    return value.split(",")[0].rstrip("/").rsplit(":", 1)[-1]


def quantity(q, cpu):
    s = str(q)
    if cpu:
        return float(s[:-1]) / 1000 if s.endswith("m") else float(s)
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "K": 1e3, "M": 1e6, "G": 1e9}
    for u, f in units.items():
        if s.endswith(u):
            return float(s[:-len(u)]) * f
    return float(s)


def load_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())
