#!/usr/bin/python3
"""Structural checks of the deployment files (ctest deploy.k8s_manifests).

deploy/k8s (plain YAML + kustomization.yaml):
  - every file is listed in kustomization.yaml and every listed file exists;
  - kinds and apiVersions are the expected ones, names are DNS-1123 labels,
    everything is in the one namespace;
  - trainer and encoder are Deployments, search a StatefulSet with a
    PersistentVolumeClaim template and a headless governing Service;
  - selectors match the pod template labels; every Service selects a
    workload and its targetPorts exist on that workload's containers;
  - every container has an image, cpu+memory requests <= limits, startup,
    liveness and readiness probes; exec probes run latentsearch-probe at a
    port the container listens on (--listen) and declares (containerPort);
  - every volumeMount names a volume (or claim template); PVC, Secret and
    ConfigMap references resolve, keys included; files passed in args
    (/etc/latentsearch/...) lie in a mounted Secret that has that key;
  - $(VAR) in args is defined in the container's env;
  - every --flag in args and probe commands is defined (ABSL_FLAG) in the
    sources of that binary;
  - addresses in the ConfigMap name an existing Service and one of its ports;
  - make-secrets.sh produces the same Secrets (names, types, keys) with a
    certificate that chains to its CA and names every --tls_server_name used.
deploy/docker-compose.yml (structure; `docker-compose config` runs too when
installed): health-gated depends_on, CMD-SHELL healthchecks through
latentsearch-probe, init: true, ports on 127.0.0.1 by default, named volumes,
flags defined in the sources.
Prints one line per group of checks; exits 1 listing every problem found.
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

NAMESPACE = "latentsearch"
API_VERSIONS = {
    "Namespace": "v1", "ConfigMap": "v1", "Secret": "v1", "Service": "v1",
    "PersistentVolumeClaim": "v1", "Deployment": "apps/v1", "StatefulSet": "apps/v1",
}
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Binary -> the source directories whose ABSL_FLAGs it links.
BINARY_SOURCES = {
    "latentsearch-trainer": ["services/trainer", "services/common", "common"],
    "latentsearch-encoder": ["services/encoder", "services/common", "common"],
    "latentsearch-search": ["services/search", "services/common", "common"],
    "latentsearch-probe": ["clients/probe", "common"],
    "latentsearch": ["clients/cli", "common"],
}
IMAGE_BINARY = re.compile(r"latentsearch-(trainer|encoder|search|cli)\b")

problems = []


def problem(where, what):
    problems.append(f"{where}: {what}")


def flags_of(source_dir, binary):
    names = set()
    for d in BINARY_SOURCES[binary]:
        for path in glob.glob(os.path.join(source_dir, d, "**", "*.cc"), recursive=True):
            with open(path, encoding="utf-8", errors="replace") as f:
                names.update(re.findall(r"ABSL_FLAG\(\s*[\w:<>]+\s*,\s*(\w+)\s*,", f.read()))
    return names


def check_flags(where, binary, argv, source_dir, cache):
    if binary not in cache:
        cache[binary] = flags_of(source_dir, binary)
    for arg in argv:
        m = re.match(r"^--(no)?([a-z_0-9]+)(=|$)", arg)
        if not m:
            continue
        name = m.group(2)
        if name not in cache[binary] and not (m.group(1) and name in cache[binary]):
            problem(where, f"flag --{name} is not defined by {binary} (no ABSL_FLAG in "
                           f"{', '.join(BINARY_SOURCES[binary])})")


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


def check_k8s(source_dir):
    k8s = os.path.join(source_dir, "deploy", "k8s")
    kust = load_docs(os.path.join(k8s, "kustomization.yaml"))[0]
    listed = set(kust.get("resources", []))
    files = {os.path.basename(p) for p in glob.glob(os.path.join(k8s, "*.yaml"))}
    files.discard("kustomization.yaml")
    for f in sorted(listed - files):
        problem("kustomization.yaml", f"lists {f}, which does not exist")
    for f in sorted(files - listed):
        problem("kustomization.yaml", f"does not list {f}")
    if kust.get("namespace") != NAMESPACE:
        problem("kustomization.yaml", f"namespace must be {NAMESPACE}")

    docs = []
    for f in sorted(files):
        for d in load_docs(os.path.join(k8s, f)):
            docs.append((f, d))
    by_kind = {}
    for f, d in docs:
        kind, name = d.get("kind"), d.get("metadata", {}).get("name", "")
        where = f"{f} {kind}/{name}"
        if kind not in API_VERSIONS:
            problem(where, f"unexpected kind {kind}")
            continue
        if d.get("apiVersion") != API_VERSIONS[kind]:
            problem(where, f"apiVersion {d.get('apiVersion')}, expected {API_VERSIONS[kind]}")
        if not DNS1123.match(name) or len(name) > 63:
            problem(where, "name is not a DNS-1123 label")
        if kind != "Namespace" and d["metadata"].get("namespace") != NAMESPACE:
            problem(where, f"namespace must be {NAMESPACE}")
        if (kind, name) in by_kind:
            problem(where, "defined twice")
        by_kind[(kind, name)] = (f, d)
    print(f"k8s: {len(docs)} objects in {len(files)} files: "
          + ", ".join(sorted(f"{k}/{n}" for k, n in by_kind)))

    def get(kind, name):
        return by_kind.get((kind, name), (None, None))[1]

    workloads = {n: d for (k, n), (_, d) in by_kind.items() if k in ("Deployment", "StatefulSet")}
    for name, kind in (("latentsearch-trainer", "Deployment"), ("latentsearch-encoder", "Deployment"),
                       ("latentsearch-search", "StatefulSet")):
        if get(kind, name) is None:
            problem("k8s", f"missing {kind}/{name}")
    for name in ("latentsearch-trainer", "latentsearch-encoder", "latentsearch-search"):
        if get("Service", name) is None:
            problem("k8s", f"missing Service/{name}")
    if not any(k == "ConfigMap" for k, _ in by_kind):
        problem("k8s", "no ConfigMap")
    tls = get("Secret", "latentsearch-tls")
    if tls is None or not {"tls.crt", "tls.key", "ca.crt"} <= set(tls.get("stringData", {})):
        problem("k8s", "Secret/latentsearch-tls must hold tls.crt, tls.key, ca.crt")
    auth = get("Secret", "latentsearch-auth")
    if auth is None or "tokens" not in auth.get("stringData", {}):
        problem("k8s", "Secret/latentsearch-auth must hold tokens")

    def secret_keys(name):
        s = get("Secret", name)
        return None if s is None else set(s.get("stringData", {})) | set(s.get("data", {}))

    def configmap_keys(name):
        c = get("ConfigMap", name)
        return None if c is None else set(c.get("data", {}))

    flag_cache = {}
    server_names = set()
    n_containers = 0
    for wname, w in sorted(workloads.items()):
        where = f"{w['kind']}/{wname}"
        spec = w["spec"]
        tmpl = spec["template"]
        labels = tmpl.get("metadata", {}).get("labels", {})
        match = spec.get("selector", {}).get("matchLabels", {})
        if not match or any(labels.get(k) != v for k, v in match.items()):
            problem(where, f"selector {match} does not match template labels {labels}")
        pod = tmpl["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        claim_templates = set()
        if w["kind"] == "StatefulSet":
            claim_templates = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])}
            if not claim_templates:
                problem(where, "a StatefulSet without volumeClaimTemplates")
            gov = get("Service", spec.get("serviceName", ""))
            if gov is None or gov["spec"].get("clusterIP") != "None":
                problem(where, f"serviceName {spec.get('serviceName')} is not a headless Service")
        for vname, v in volumes.items():
            if "persistentVolumeClaim" in v:
                claim = v["persistentVolumeClaim"]["claimName"]
                if get("PersistentVolumeClaim", claim) is None:
                    problem(where, f"volume {vname}: PersistentVolumeClaim {claim} does not exist")
            if "secret" in v and secret_keys(v["secret"]["secretName"]) is None:
                problem(where, f"volume {vname}: Secret {v['secret']['secretName']} does not exist")
            if "configMap" in v and configmap_keys(v["configMap"]["name"]) is None:
                problem(where, f"volume {vname}: ConfigMap {v['configMap']['name']} does not exist")
        sc = pod.get("securityContext", {})
        if not sc.get("runAsNonRoot"):
            problem(where, "pod securityContext must set runAsNonRoot")
        for c in pod.get("containers", []):
            n_containers += 1
            cwhere = f"{where} container {c['name']}"
            m = IMAGE_BINARY.search(c.get("image", ""))
            if not m:
                problem(cwhere, f"image {c.get('image')} is not a latentsearch image")
                continue
            binary = "latentsearch" if m.group(1) == "cli" else f"latentsearch-{m.group(1)}"
            args = [str(a) for a in c.get("args", [])]
            check_flags(cwhere, binary, args, source_dir, flag_cache)
            # Resources.
            res = c.get("resources", {})
            for r in ("cpu", "memory"):
                req = res.get("requests", {}).get(r)
                lim = res.get("limits", {}).get(r)
                if req is None or lim is None:
                    problem(cwhere, f"resources.requests/limits.{r} missing")
                elif quantity(req, r == "cpu") > quantity(lim, r == "cpu"):
                    problem(cwhere, f"{r} request {req} > limit {lim}")
            # Env: ConfigMap / Secret references; $(VAR) uses.
            env = set()
            for e in c.get("env", []):
                env.add(e["name"])
                ref = e.get("valueFrom", {})
                if "configMapKeyRef" in ref:
                    r = ref["configMapKeyRef"]
                    keys = configmap_keys(r["name"])
                    if keys is None or r["key"] not in keys:
                        problem(cwhere, f"env {e['name']}: ConfigMap {r['name']} has no key {r['key']}")
                if "secretKeyRef" in ref:
                    r = ref["secretKeyRef"]
                    keys = secret_keys(r["name"])
                    if keys is None or r["key"] not in keys:
                        problem(cwhere, f"env {e['name']}: Secret {r['name']} has no key {r['key']}")
            for ef in c.get("envFrom", []):
                if "configMapRef" in ef:
                    keys = configmap_keys(ef["configMapRef"]["name"])
                    if keys is None:
                        problem(cwhere, f"envFrom ConfigMap {ef['configMapRef']['name']} missing")
                    else:
                        env |= keys
            for a in args:
                for var in re.findall(r"\$\((\w+)\)", a):
                    if var not in env:
                        problem(cwhere, f"{a}: $({var}) is not in the container's env")
            # Mounts, and files named in args / probes.
            mounts = {}
            for vm in c.get("volumeMounts", []):
                if vm["name"] not in volumes and vm["name"] not in claim_templates:
                    problem(cwhere, f"volumeMount {vm['name']} names no volume")
                mounts[vm["mountPath"].rstrip("/")] = vm["name"]

            def check_file(arg, ctx):
                m = re.match(r"^--\w+=(/etc/latentsearch/\S+)$", arg)
                if not m:
                    return
                path = m.group(1)
                d, key = os.path.dirname(path), os.path.basename(path)
                vname = mounts.get(d)
                if vname is None:
                    problem(cwhere, f"{ctx}{arg}: {d} is not a mount")
                    return
                v = volumes.get(vname, {})
                if "secret" in v:
                    keys = secret_keys(v["secret"]["secretName"]) or set()
                    if key not in keys:
                        problem(cwhere, f"{ctx}{arg}: Secret {v['secret']['secretName']} has no key {key}")

            for a in args:
                check_file(a, "")
            # Ports and probes.
            ports = {p["containerPort"]: p.get("name") for p in c.get("ports", [])}
            names = {p.get("name") for p in c.get("ports", [])}
            listen = next((a.split(":")[-1] for a in args if a.startswith("--listen=")), None)
            if listen is None or int(listen) not in ports:
                problem(cwhere, f"--listen port {listen} is not a containerPort {sorted(ports)}")
            for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                p = c.get(kind)
                if p is None:
                    problem(cwhere, f"no {kind}")
                    continue
                if "exec" in p:
                    cmd = [str(x) for x in p["exec"]["command"]]
                    if cmd[0] != "latentsearch-probe":
                        problem(cwhere, f"{kind} runs {cmd[0]}, expected latentsearch-probe")
                        continue
                    check_flags(f"{cwhere} {kind}", "latentsearch-probe", cmd[1:], source_dir,
                                flag_cache)
                    addr = next((a.split("=", 1)[1] for a in cmd if a.startswith("--address=")), "")
                    if addr.rsplit(":", 1)[-1] != listen:
                        problem(cwhere, f"{kind} probes {addr}, the server listens on port {listen}")
                    for a in cmd:
                        check_file(a, f"{kind} ")
                        if a.startswith("--tls_server_name="):
                            server_names.add(a.split("=", 1)[1])
                elif "grpc" in p:
                    if p["grpc"].get("port") not in ports:
                        problem(cwhere, f"{kind} grpc port {p['grpc'].get('port')} not declared")
                elif "httpGet" in p or "tcpSocket" in p:
                    port = (p.get("httpGet") or p.get("tcpSocket"))["port"]
                    if port not in ports and port not in names:
                        problem(cwhere, f"{kind} port {port} not declared")
                else:
                    problem(cwhere, f"{kind} has no handler")
    print(f"k8s: {len(workloads)} workloads, {n_containers} containers checked "
          f"(selectors, resources, probes, volumes, env, flags of "
          f"{', '.join(sorted(flag_cache))})")

    # Services: select a workload, targetPorts exist.
    services = {n: d for (k, n), (_, d) in by_kind.items() if k == "Service"}
    for sname, s in sorted(services.items()):
        sel = s["spec"].get("selector", {})
        targets = [w for w in workloads.values()
                   if sel and all(w["spec"]["template"]["metadata"]["labels"].get(k) == v
                                  for k, v in sel.items())]
        if not targets:
            problem(f"Service/{sname}", f"selector {sel} selects no workload")
            continue
        cports = {}
        for w in targets:
            for c in w["spec"]["template"]["spec"]["containers"]:
                for p in c.get("ports", []):
                    cports[p["containerPort"]] = p.get("name")
        for p in s["spec"].get("ports", []):
            t = p.get("targetPort", p["port"])
            if t not in cports and t not in cports.values():
                problem(f"Service/{sname}", f"targetPort {t} is not a container port {cports}")

    # ConfigMap addresses -> Services.
    for (k, n), (_, d) in by_kind.items():
        if k != "ConfigMap":
            continue
        for key, value in d.get("data", {}).items():
            for addr in str(value).split(","):
                m = re.match(r"^([a-z0-9-]+):(\d+)$", addr.strip())
                if not m:
                    continue
                svc = services.get(m.group(1))
                if svc is None:
                    problem(f"ConfigMap/{n}", f"{key}={value}: no Service {m.group(1)}")
                elif int(m.group(2)) not in [p["port"] for p in svc["spec"]["ports"]]:
                    problem(f"ConfigMap/{n}", f"{key}={value}: Service {m.group(1)} has no port {m.group(2)}")
            if key.endswith("TLS_SERVER_NAME"):
                server_names.add(str(value))
    print(f"k8s: {len(services)} Services resolve; TLS names used: {', '.join(sorted(server_names))}")
    check_make_secrets(k8s, by_kind, server_names)


def check_make_secrets(k8s, by_kind, server_names):
    if shutil.which("openssl") is None:
        print("k8s: make-secrets.sh not run (no openssl)")
        return
    out = subprocess.run(["bash", os.path.join(k8s, "make-secrets.sh"), NAMESPACE],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        problem("make-secrets.sh", f"exit {out.returncode}: {out.stderr[-500:]}")
        return
    made = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(out.stdout) if d}
    for (kind, name), (_, d) in by_kind.items():
        if kind != "Secret":
            continue
        m = made.get((kind, name))
        if m is None:
            problem("make-secrets.sh", f"does not produce Secret/{name}")
        elif m.get("type") != d.get("type") or set(m["stringData"]) != set(d["stringData"]):
            problem("make-secrets.sh", f"Secret/{name} differs in type or keys from secret.yaml")
    tls = made.get(("Secret", "latentsearch-tls"))
    if tls is None:
        return
    with tempfile.TemporaryDirectory() as tmp:
        for key in ("tls.crt", "ca.crt"):
            with open(os.path.join(tmp, key), "w") as f:
                f.write(tls["stringData"][key])
        v = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(tmp, "ca.crt"),
                            os.path.join(tmp, "tls.crt")], capture_output=True, text=True)
        if v.returncode != 0:
            problem("make-secrets.sh", f"certificate does not verify: {v.stdout}{v.stderr}")
        text = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
                               os.path.join(tmp, "tls.crt")], capture_output=True, text=True).stdout
        sans = set(re.findall(r"DNS:([^,\s]+)", text))
        for name in sorted(server_names):
            if name not in sans:
                problem("make-secrets.sh", f"certificate does not name {name} (SANs: {sorted(sans)})")
    tokens = [l.strip() for l in made[("Secret", "latentsearch-auth")]["stringData"]["tokens"].splitlines()
              if l.strip() and not l.strip().startswith("#")]
    if len(tokens) != 1 or len(tokens[0]) < 16:
        problem("make-secrets.sh", "expected one token of at least 16 characters")
    print(f"k8s: make-secrets.sh: certificate verifies against its CA, names "
          f"{len(server_names)} TLS names among {len(sans)} SANs; 1 token")


def check_compose(source_dir):
    path = os.path.join(source_dir, "deploy", "docker-compose.yml")
    doc = load_docs(path)[0]
    services = doc.get("services", {})
    volumes = set((doc.get("volumes") or {}).keys())
    flag_cache = {}
    for name in ("trainer", "encoder", "search"):
        if name not in services:
            problem("docker-compose.yml", f"no service {name}")
    for name, s in services.items():
        where = f"docker-compose.yml {name}"
        if s.get("init") is not True:
            problem(where, "init: true missing")
        m = IMAGE_BINARY.search(str(s.get("image", "")))
        if not m:
            problem(where, f"image {s.get('image')} is not a latentsearch image")
            continue
        binary = "latentsearch" if m.group(1) == "cli" else f"latentsearch-{m.group(1)}"
        if "cli" in (s.get("profiles") or []):
            continue
        hc = s.get("healthcheck", {}).get("test", [])
        if not hc or hc[0] != "CMD-SHELL" or "latentsearch-probe" not in hc[1]:
            problem(where, "healthcheck must be CMD-SHELL latentsearch-probe ...")
        command = re.sub(r"\$\{[^}]*\}", "X", str(s.get("command", ""))).split()
        check_flags(where, binary, command, source_dir, flag_cache)
        if hc:
            check_flags(f"{where} healthcheck", "latentsearch-probe", hc[1].split()[1:],
                        source_dir, flag_cache)
        listen = next((a.rsplit(":", 1)[1] for a in command if a.startswith("--listen=")), None)
        if listen is None or f"127.0.0.1:{listen}" not in (hc[1] if hc else ""):
            problem(where, f"healthcheck does not probe the --listen port {listen}")
        for p in s.get("ports", []):
            if not str(p).startswith("${LS_BIND_ADDRESS:-127.0.0.1}:"):
                problem(where, f"port {p} is not bound to ${{LS_BIND_ADDRESS:-127.0.0.1}}")
        for v in s.get("volumes", []):
            src = str(v).split(":")[0]
            m2 = re.match(r"^\$\{\w+:-([\w-]+)\}$", src)
            src = m2.group(1) if m2 else src
            if not src.startswith(("/", ".", "$")) and src not in volumes:
                problem(where, f"volume {src} is not declared under volumes:")
        for dep, cond in (s.get("depends_on") or {}).items():
            if not isinstance(cond, dict) or cond.get("condition") != "service_healthy":
                problem(where, f"depends_on {dep} is not health-gated (service_healthy)")
    for name in ("trainer", "search"):
        if "encoder" not in (services.get(name, {}).get("depends_on") or {}):
            problem(f"docker-compose.yml {name}", "must depend on the encoder")
    msg = f"compose: {len(services)} services checked ({', '.join(services)})"
    dc = shutil.which("docker-compose")
    if dc:
        out = subprocess.run([dc, "-f", path, "--profile", "gpu", "--profile", "cli", "config",
                              "-q"], capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            problem("docker-compose config", out.stderr[-1000:])
        msg += "; `docker-compose config` accepts it"
    else:
        msg += "; docker-compose not installed, `config` not run"
    print(msg)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--source_dir", required=True)
    args = parser.parse_args()
    check_k8s(args.source_dir)
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
