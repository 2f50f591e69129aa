"""The Kubernetes half of validate_deploy.py: deploy/k8s, object by object
(files, kinds, references, containers, probes, Services) and the search
cluster's shape (nodes, routers, etcd; see validate_deploy.py's docstring).
Problems go to manifest_util.problems. Not thread-safe (one run per process).
"""
import glob
import os
import re
import shutil
import subprocess
import tempfile

import yaml

from manifest_util import (API_VERSIONS, DNS1123, K8S_WORKLOADS, NAMESPACE, NODE_HEALTH,
                           ROUTER_HEALTH, binary_of, check_flags, flag, has_flag, listen_port,
                           load_docs, problem, quantity, selects)

NODES = "latentsearch-search-node"
ROUTERS = "latentsearch-search"
ETCD = "latentsearch-etcd"
ENCODERS = "latentsearch-encoder"
ENCODER_PUSH = "latentsearch-encoder-push"


class K8s:
    def __init__(self, source_dir):
        self.source_dir = source_dir
        self.dir = os.path.join(source_dir, "deploy", "k8s")
        self.by_kind = {}
        self.flag_cache = {}
        self.server_names = set()

    # -- lookups ------------------------------------------------------------
    def get(self, kind, name):
        return self.by_kind.get((kind, name), (None, None))[1]

    def of_kind(self, *kinds):
        return {n: d for (k, n), (_, d) in self.by_kind.items() if k in kinds}

    def workloads(self):
        return self.of_kind("Deployment", "StatefulSet")

    def secret_keys(self, name):
        s = self.get("Secret", name)
        return None if s is None else set(s.get("stringData", {})) | set(s.get("data", {}))

    def configmap_keys(self, name):
        c = self.get("ConfigMap", name)
        return None if c is None else set(c.get("data", {}))

    def env_values(self, container):
        """Container env name -> its value (literal or from a ConfigMap key);
        None for values known only at run time (fieldRef, Secrets)."""
        values = {}
        for e in container.get("env", []):
            ref = e.get("valueFrom", {}).get("configMapKeyRef")
            if "value" in e:
                values[e["name"]] = str(e["value"])
            elif ref and self.get("ConfigMap", ref["name"]) is not None:
                values[e["name"]] = self.get("ConfigMap", ref["name"]).get("data", {}).get(ref["key"])
            else:
                values[e["name"]] = None
        return values

    def resolved(self, container, text):
        """text with $(VAR) replaced by its value where the value is known."""
        values = self.env_values(container)
        return re.sub(r"\$\((\w+)\)", lambda m: values.get(m.group(1)) or m.group(0), text)

    # -- the run -------------------------------------------------------------
    def check(self):
        files = self.check_files()
        self.load(files)
        for kind, name in K8S_WORKLOADS:
            if self.get(kind, name) is None:
                problem("k8s", f"missing {kind}/{name}")
        for name in ("latentsearch-trainer", "latentsearch-encoder", ROUTERS, NODES, ETCD):
            if self.get("Service", name) is None:
                problem("k8s", f"missing Service/{name}")
        if not self.of_kind("ConfigMap"):
            problem("k8s", "no ConfigMap")
        self.check_secrets()
        n = 0
        for wname, w in sorted(self.workloads().items()):
            n += self.check_workload(wname, w)
        print(f"k8s: {len(self.workloads())} workloads, {n} containers checked "
              f"(selectors, resources, probes, volumes, env, flags of "
              f"{', '.join(sorted(self.flag_cache))})")
        self.check_services()
        self.check_policies()
        self.check_configmaps()
        self.check_cluster()
        self.check_encoders()
        self.check_make_secrets()

    def check_files(self):
        kust = load_docs(os.path.join(self.dir, "kustomization.yaml"))[0]
        listed = set(kust.get("resources", []))
        files = {os.path.basename(p) for p in glob.glob(os.path.join(self.dir, "*.yaml"))}
        files.discard("kustomization.yaml")
        for f in sorted(listed - files):
            problem("kustomization.yaml", f"lists {f}, which does not exist")
        for f in sorted(files - listed):
            problem("kustomization.yaml", f"does not list {f}")
        if kust.get("namespace") != NAMESPACE:
            problem("kustomization.yaml", f"namespace must be {NAMESPACE}")
        return files

    def load(self, files):
        docs = [(f, d) for f in sorted(files) for d in load_docs(os.path.join(self.dir, f))]
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
            if (kind, name) in self.by_kind:
                problem(where, "defined twice")
            self.by_kind[(kind, name)] = (f, d)
        print(f"k8s: {len(docs)} objects in {len(files)} files: "
              + ", ".join(sorted(f"{k}/{n}" for k, n in self.by_kind)))

    def check_secrets(self):
        tls = self.get("Secret", "latentsearch-tls")
        if tls is None or not {"tls.crt", "tls.key", "ca.crt"} <= set(tls.get("stringData", {})):
            problem("k8s", "Secret/latentsearch-tls must hold tls.crt, tls.key, ca.crt")
        auth = self.get("Secret", "latentsearch-auth")
        if auth is None or "tokens" not in auth.get("stringData", {}):
            problem("k8s", "Secret/latentsearch-auth must hold tokens")

    # -- workloads and containers ---------------------------------------------
    def check_workload(self, wname, w):
        """Checks one Deployment/StatefulSet; returns its number of containers."""
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
            gov = self.get("Service", spec.get("serviceName", ""))
            if gov is None or gov["spec"].get("clusterIP") != "None":
                problem(where, f"serviceName {spec.get('serviceName')} is not a headless Service")
        for vname, v in volumes.items():
            if "persistentVolumeClaim" in v:
                claim = v["persistentVolumeClaim"]["claimName"]
                if self.get("PersistentVolumeClaim", claim) is None:
                    problem(where, f"volume {vname}: PersistentVolumeClaim {claim} does not exist")
            if "secret" in v and self.secret_keys(v["secret"]["secretName"]) is None:
                problem(where, f"volume {vname}: Secret {v['secret']['secretName']} does not exist")
            if "configMap" in v and self.configmap_keys(v["configMap"]["name"]) is None:
                problem(where, f"volume {vname}: ConfigMap {v['configMap']['name']} does not exist")
        if not pod.get("securityContext", {}).get("runAsNonRoot"):
            problem(where, "pod securityContext must set runAsNonRoot")
        for c in pod.get("containers", []):
            self.check_container(f"{where} container {c['name']}", c, volumes, claim_templates)
        return len(pod.get("containers", []))

    def check_container(self, cwhere, c, volumes, claim_templates):
        binary = binary_of(c.get("image"))
        if binary is None:
            problem(cwhere, f"image {c.get('image')} is not a latentsearch image")
            return
        args = [str(a) for a in c.get("args", [])]
        check_flags(cwhere, binary, args, self.source_dir, self.flag_cache)
        self.check_resources(cwhere, c)
        env = self.check_env(cwhere, c)
        for a in args:
            for var in re.findall(r"\$\((\w+)\)", a):
                if var not in env:
                    problem(cwhere, f"{a}: $({var}) is not in the container's env")
        mounts = {}
        for vm in c.get("volumeMounts", []):
            if vm["name"] not in volumes and vm["name"] not in claim_templates:
                problem(cwhere, f"volumeMount {vm['name']} names no volume")
            mounts[vm["mountPath"].rstrip("/")] = vm["name"]
        for a in args:
            self.check_file(cwhere, a, "", mounts, volumes)
        ports = {p["containerPort"]: p.get("name") for p in c.get("ports", [])}
        listen = listen_port(binary, args)
        if listen is None or int(listen) not in ports:
            problem(cwhere, f"listen port {listen} is not a containerPort {sorted(ports)}")
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            self.check_probe(cwhere, kind, c.get(kind), listen, ports, mounts, volumes)

    def check_resources(self, cwhere, c):
        res = c.get("resources", {})
        for r in ("cpu", "memory"):
            req = res.get("requests", {}).get(r)
            lim = res.get("limits", {}).get(r)
            if req is None or lim is None:
                problem(cwhere, f"resources.requests/limits.{r} missing")
            elif quantity(req, r == "cpu") > quantity(lim, r == "cpu"):
                problem(cwhere, f"{r} request {req} > limit {lim}")

    def check_env(self, cwhere, c):
        """ConfigMap / Secret references of the env; returns the names defined."""
        env = set()
        for e in c.get("env", []):
            env.add(e["name"])
            ref = e.get("valueFrom", {})
            if "configMapKeyRef" in ref:
                r = ref["configMapKeyRef"]
                keys = self.configmap_keys(r["name"])
                if keys is None or r["key"] not in keys:
                    problem(cwhere, f"env {e['name']}: ConfigMap {r['name']} has no key {r['key']}")
            if "secretKeyRef" in ref:
                r = ref["secretKeyRef"]
                keys = self.secret_keys(r["name"])
                if keys is None or r["key"] not in keys:
                    problem(cwhere, f"env {e['name']}: Secret {r['name']} has no key {r['key']}")
        for ef in c.get("envFrom", []):
            if "configMapRef" in ef:
                keys = self.configmap_keys(ef["configMapRef"]["name"])
                if keys is None:
                    problem(cwhere, f"envFrom ConfigMap {ef['configMapRef']['name']} missing")
                else:
                    env |= keys
        return env

    def check_file(self, cwhere, arg, ctx, mounts, volumes):
        """A file under /etc/latentsearch named by a flag lies in a mounted Secret."""
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
            keys = self.secret_keys(v["secret"]["secretName"]) or set()
            if key not in keys:
                problem(cwhere, f"{ctx}{arg}: Secret {v['secret']['secretName']} has no key {key}")

    def check_probe(self, cwhere, kind, p, listen, ports, mounts, volumes):
        if p is None:
            problem(cwhere, f"no {kind}")
            return
        names = set(ports.values())
        if "exec" in p:
            cmd = [str(x) for x in p["exec"]["command"]]
            if cmd[0] != "latentsearch-probe":
                problem(cwhere, f"{kind} runs {cmd[0]}, expected latentsearch-probe")
                return
            check_flags(f"{cwhere} {kind}", "latentsearch-probe", cmd[1:], self.source_dir,
                        self.flag_cache)
            addr = flag(cmd, "address") or ""
            if addr.rsplit(":", 1)[-1] != listen:
                problem(cwhere, f"{kind} probes {addr}, the server listens on port {listen}")
            for a in cmd:
                self.check_file(cwhere, a, f"{kind} ", mounts, volumes)
            name = flag(cmd, "tls_server_name")
            if name is not None:
                self.server_names.add(name)
        elif "grpc" in p:
            if p["grpc"].get("port") not in ports:
                problem(cwhere, f"{kind} grpc port {p['grpc'].get('port')} not declared")
        elif "httpGet" in p or "tcpSocket" in p:
            port = (p.get("httpGet") or p.get("tcpSocket"))["port"]
            if port not in ports and port not in names:
                problem(cwhere, f"{kind} port {port} not declared")
        else:
            problem(cwhere, f"{kind} has no handler")

    # -- Services, PodDisruptionBudgets, NetworkPolicies, ConfigMaps ------------
    def targets(self, selector):
        return [w for w in self.workloads().values()
                if selects(selector, self.pod_labels(w, selector))]

    @staticmethod
    def pod_labels(w, selector):
        """The template's labels, plus the pod-name label a StatefulSet's
        controller adds when the selector names one of its pods (e.g. the
        trainer's API Service selects rank 0 only)."""
        labels = dict(w["spec"]["template"]["metadata"]["labels"])
        pod = selector.get("statefulset.kubernetes.io/pod-name")
        if w["kind"] == "StatefulSet" and pod is not None:
            name = w["metadata"]["name"]
            if pod in {f"{name}-{i}" for i in range(int(w["spec"].get("replicas", 1)))}:
                labels["statefulset.kubernetes.io/pod-name"] = pod
        return labels

    @staticmethod
    def container_ports(workloads):
        out = {}
        for w in workloads:
            for c in w["spec"]["template"]["spec"]["containers"]:
                for p in c.get("ports", []):
                    out[p["containerPort"]] = p.get("name")
        return out

    def check_services(self):
        services = self.of_kind("Service")
        for sname, s in sorted(services.items()):
            sel = s["spec"].get("selector", {})
            targets = self.targets(sel)
            if not targets:
                problem(f"Service/{sname}", f"selector {sel} selects no workload")
                continue
            cports = self.container_ports(targets)
            for p in s["spec"].get("ports", []):
                t = p.get("targetPort", p["port"])
                if t not in cports and t not in cports.values():
                    problem(f"Service/{sname}", f"targetPort {t} is not a container port {cports}")
        print(f"k8s: {len(services)} Services resolve")

    def check_policies(self):
        pdbs = self.of_kind("PodDisruptionBudget")
        for name, p in sorted(pdbs.items()):
            sel = p["spec"].get("selector", {}).get("matchLabels", {})
            if not self.targets(sel):
                problem(f"PodDisruptionBudget/{name}", f"selector {sel} selects no workload")
            if ("maxUnavailable" in p["spec"]) == ("minAvailable" in p["spec"]):
                problem(f"PodDisruptionBudget/{name}", "set one of maxUnavailable, minAvailable")
        policies = self.of_kind("NetworkPolicy")
        for name, n in sorted(policies.items()):
            where = f"NetworkPolicy/{name}"
            targets = self.targets(n["spec"].get("podSelector", {}).get("matchLabels", {}))
            if not targets:
                problem(where, "podSelector selects no workload")
            cports = self.container_ports(targets)
            for rule in n["spec"].get("ingress", []):
                for peer in rule.get("from", []):
                    sel = peer.get("podSelector", {}).get("matchLabels")
                    if sel is not None and not self.targets(sel):
                        problem(where, f"from podSelector {sel} selects no workload")
                for port in rule.get("ports", []):
                    if port["port"] not in cports and port["port"] not in cports.values():
                        problem(where, f"port {port['port']} is not a container port {cports}")
        print(f"k8s: {len(pdbs)} PodDisruptionBudgets, {len(policies)} NetworkPolicies select "
              f"workloads")

    def check_configmaps(self):
        services = self.of_kind("Service")
        for n, d in sorted(self.of_kind("ConfigMap").items()):
            for key, value in d.get("data", {}).items():
                for addr in str(value).split(","):
                    m = re.match(r"^(?:http://|dns:///)?([a-z0-9-]+)(?:\.([a-z0-9-]+))?:(\d+)$",
                                 addr.strip())
                    if not m:
                        continue
                    # HOST:PORT names a Service; POD.SERVICE:PORT a pod of one.
                    svc_name = m.group(2) or m.group(1)
                    svc = services.get(svc_name)
                    if svc is None:
                        problem(f"ConfigMap/{n}", f"{key}={value}: no Service {svc_name}")
                    elif int(m.group(3)) not in [p["port"] for p in svc["spec"]["ports"]]:
                        problem(f"ConfigMap/{n}",
                                f"{key}={value}: Service {svc_name} has no port {m.group(3)}")
                if key.endswith("TLS_SERVER_NAME"):
                    self.server_names.add(str(value))
        print(f"k8s: ConfigMap addresses resolve; TLS names used: "
              f"{', '.join(sorted(self.server_names))}")

    # -- encoder replicas (#11) ------------------------------------------------
    def check_encoders(self):
        """Two or more encoders, reached round-robin through a headless Service;
        pushes go to every pod (ready or not), and a pod without a volume of
        its own pulls what it lacks from the trainer."""
        w, c = self.container("Deployment", ENCODERS)
        if w is None:
            return
        where = f"Deployment/{ENCODERS}"
        if w["spec"].get("replicas", 1) < 2:
            problem(where, "fewer than 2 encoders")
        self.covered_by_pdb(w, where)
        args = [str(a) for a in c.get("args", [])]
        data_dir = (flag(args, "data_dir") or "").rstrip("/")
        mounts = {vm["mountPath"].rstrip("/"): vm["name"] for vm in c.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in w["spec"]["template"]["spec"].get("volumes", [])}
        data = volumes.get(mounts.get(data_dir, ""), {})
        if "persistentVolumeClaim" in data:
            problem(where, "the replicas would share one claim for --data_dir: use an emptyDir "
                           "and --pull_from (or a StatefulSet with volumeClaimTemplates)")
        if not has_flag(args, "pull_from"):
            problem(where, "--pull_from is missing: a replica that missed a push, or starts "
                           "empty, would never get the version")
        config = (self.get("ConfigMap", "latentsearch-config") or {}).get("data", {})
        for key, service, ready_only in (("ENCODER_ADDRESS", ENCODERS, True),
                                         ("PUSH_TO", ENCODER_PUSH, False)):
            svc = self.get("Service", service)
            if svc is None:
                problem("k8s", f"missing Service/{service}")
                continue
            if svc["spec"].get("clusterIP") != "None":
                problem(f"Service/{service}", "must be headless (clusterIP: None): every "
                                              "encoder pod is resolved")
            if bool(svc["spec"].get("publishNotReadyAddresses")) == ready_only:
                problem(f"Service/{service}", "must list ready encoders only" if ready_only
                        else "must publish not-ready encoders (they become ready by a push)")
            value = str(config.get(key, ""))
            if not value.startswith(f"dns:///{service}:"):
                problem("ConfigMap/latentsearch-config",
                        f"{key}={value}: must be dns:///{service}:PORT (every pod)")
        print(f"k8s: encoders: {w['spec'].get('replicas', 1)} replicas, headless {ENCODERS} "
              f"(ready) and {ENCODER_PUSH} (all), --pull_from, PDB")

    # -- the search cluster ---------------------------------------------------
    def container(self, kind, name):
        w = self.get(kind, name)
        if w is None:
            return None, None
        return w, w["spec"]["template"]["spec"]["containers"][0]

    def covered_by_pdb(self, w, where):
        labels = w["spec"]["template"]["metadata"]["labels"]
        pdbs = [p for p in self.of_kind("PodDisruptionBudget").values()
                if selects(p["spec"].get("selector", {}).get("matchLabels", {}), labels)]
        if not pdbs:
            problem(where, "no PodDisruptionBudget selects its pods")
        elif any(p["spec"].get("maxUnavailable") != 1 for p in pdbs):
            problem(where, "its PodDisruptionBudget must say maxUnavailable: 1")

    def anti_affinity(self, w, where, required):
        labels = w["spec"]["template"]["metadata"]["labels"]
        aff = w["spec"]["template"]["spec"].get("affinity", {}).get("podAntiAffinity", {})
        terms = aff.get("requiredDuringSchedulingIgnoredDuringExecution", [])
        if not required:
            terms = terms + [t.get("podAffinityTerm", {}) for t in
                             aff.get("preferredDuringSchedulingIgnoredDuringExecution", [])]
        if not any(t.get("topologyKey") == "kubernetes.io/hostname" and
                   selects(t.get("labelSelector", {}).get("matchLabels", {}), labels)
                   for t in terms):
            problem(where, f"no {'required ' if required else ''}podAntiAffinity on "
                           f"kubernetes.io/hostname selecting its own pods")

    def probe_service(self, c, kind):
        p = c.get(kind) or {}
        cmd = [str(x) for x in p.get("exec", {}).get("command", [])]
        return flag(cmd, "service") or ""

    def check_peer_flags(self, where, args):
        """Cluster roles dial nodes as the nodes serve: TLS and a token."""
        if has_flag(args, "tls_cert") and not (has_flag(args, "peer_tls_ca") or
                                               has_flag(args, "peer_tls")):
            problem(where, "nodes serve TLS (--tls_cert) but --peer_tls_ca is missing")
        if has_flag(args, "peer_tls_ca") and not has_flag(args, "peer_tls_server_name"):
            problem(where, "--peer_tls_ca without --peer_tls_server_name (nodes are dialled by "
                           "pod name, which the certificate does not carry)")
        if has_flag(args, "auth_tokens_file") and not has_flag(args, "peer_token_file"):
            problem(where, "nodes want a token (--auth_tokens_file) but --peer_token_file is "
                           "missing")

    def check_cluster(self):
        self.check_nodes()
        self.check_routers()
        self.check_etcd()
        print(f"k8s: search cluster: {NODES} (anti-affinity, PDB, stable --advertise, "
              f"readiness {NODE_HEALTH}), {ROUTERS} (headless, readiness {ROUTER_HEALTH}), "
              f"{ETCD} (--initial-cluster, ETCD_ENDPOINTS)")

    def check_nodes(self):
        w, c = self.container("StatefulSet", NODES)
        if w is None:
            return
        where = f"StatefulSet/{NODES}"
        spec = w["spec"]
        if spec.get("replicas", 1) < 3:
            problem(where, "fewer than 3 nodes")
        if spec.get("podManagementPolicy") != "Parallel":
            problem(where, "podManagementPolicy must be Parallel (after a whole-cluster restart "
                           "a replica catches up only once all its peers answer)")
        self.anti_affinity(w, where, required=True)
        self.covered_by_pdb(w, where)
        gov = self.get("Service", spec.get("serviceName", "")) or {"spec": {}}
        if not gov["spec"].get("publishNotReadyAddresses"):
            problem(where, f"Service {spec.get('serviceName')} must publish not-ready pods "
                           f"(catching-up nodes receive writes and answer peers)")
        args = [str(a) for a in c.get("args", [])]
        if flag(args, "role") != "node":
            problem(where, "args must say --role=node")
        if any(a.startswith("--encoder") for a in args):
            problem(where, "nodes must not hold --encoder (routers encode image queries)")
        self.check_advertise(where, c, args, spec.get("serviceName"))
        self.check_etcd_flag(where, c, args)
        self.check_peer_flags(where, args)
        if self.probe_service(c, "readinessProbe") != NODE_HEALTH:
            problem(where, f"readinessProbe must ask for {NODE_HEALTH} (not ready while a "
                           f"replica catches up)")
        for kind in ("startupProbe", "livenessProbe"):
            if self.probe_service(c, kind):
                problem(where, f"{kind} must ask for the whole server (no --service)")

    def check_advertise(self, where, c, args, service):
        want = f"$(POD_NAME).{service}:{listen_port('latentsearch-search', args)}"
        if flag(args, "advertise") != want:
            problem(where, f"--advertise must be {want} (the pod's stable name), not "
                           f"{flag(args, 'advertise')}")
        pod_name = [e for e in c.get("env", []) if e["name"] == "POD_NAME"]
        if not pod_name or pod_name[0].get("valueFrom", {}).get("fieldRef", {}).get(
                "fieldPath") != "metadata.name":
            problem(where, "env POD_NAME must come from fieldRef metadata.name")

    def etcd_members(self):
        """The client URLs of the etcd StatefulSet's pods (empty without one)."""
        w, c = self.container("StatefulSet", ETCD)
        if w is None:
            return set()
        port = listen_port("etcd", [str(a) for a in c.get("args", [])])
        svc = w["spec"].get("serviceName")
        return {f"http://{ETCD}-{i}.{svc}:{port}" for i in range(w["spec"].get("replicas", 1))}

    def check_etcd_flag(self, where, c, args):
        value = flag(args, "etcd")
        if value is None:
            problem(where, "no --etcd")
            return
        urls = self.resolved(c, value)
        if "$(" in urls:
            problem(where, f"--etcd={value}: its value is not known (not from a ConfigMap)")
        elif not set(urls.split(",")) <= self.etcd_members():
            problem(where, f"--etcd={urls}: not the client URLs of {ETCD}'s members")

    def check_routers(self):
        w, c = self.container("Deployment", ROUTERS)
        if w is None:
            return
        where = f"Deployment/{ROUTERS}"
        if w["spec"].get("replicas", 1) < 2:
            problem(where, "fewer than 2 routers")
        self.anti_affinity(w, where, required=False)
        self.covered_by_pdb(w, where)
        args = [str(a) for a in c.get("args", [])]
        if flag(args, "role") != "router":
            problem(where, "args must say --role=router")
        if not has_flag(args, "encoder"):
            problem(where, "routers hold --encoder (image queries)")
        self.check_etcd_flag(where, c, args)
        self.check_peer_flags(where, args)
        if self.probe_service(c, "readinessProbe") != ROUTER_HEALTH:
            problem(where, f"readinessProbe must ask for {ROUTER_HEALTH}")
        svc = self.get("Service", ROUTERS)
        if svc is not None:
            if svc["spec"].get("clusterIP") != "None":
                problem(f"Service/{ROUTERS}", "must be headless (clusterIP: None): clients "
                                              "resolve every router and balance round_robin")
            if svc["spec"].get("publishNotReadyAddresses"):
                problem(f"Service/{ROUTERS}", "must list ready routers only")

    def check_etcd(self):
        w, c = self.container("StatefulSet", ETCD)
        if w is None:
            return
        where = f"StatefulSet/{ETCD}"
        spec = w["spec"]
        n, svc = spec.get("replicas", 1), spec.get("serviceName")
        if n % 2 == 0:
            problem(where, f"{n} members: use an odd count")
        if n > 1 and spec.get("podManagementPolicy") != "Parallel":
            problem(where, "podManagementPolicy must be Parallel (a member is not ready "
                           "before a quorum of members runs)")
        if n > 1:
            self.anti_affinity(w, where, required=True)
            self.covered_by_pdb(w, where)
        gov = self.get("Service", svc) or {"spec": {}}
        if not gov["spec"].get("publishNotReadyAddresses"):
            problem(where, f"Service {svc} must publish not-ready members (bootstrap)")
        args = [str(a) for a in c.get("args", [])]
        peer = flag(args, "listen-peer-urls") or ""
        peer_port = peer.rsplit(":", 1)[-1]
        want = ",".join(f"{ETCD}-{i}=http://{ETCD}-{i}.{svc}:{peer_port}" for i in range(n))
        if flag(args, "initial-cluster") != want:
            problem(where, f"--initial-cluster must name the {n} pods: {want}")
        if flag(args, "name") != "$(POD_NAME)":
            problem(where, "--name must be $(POD_NAME)")
        if flag(args, "initial-advertise-peer-urls") != f"http://$(POD_NAME).{svc}:{peer_port}":
            problem(where, "--initial-advertise-peer-urls must be the pod's stable name")
        members = self.etcd_members()
        for cm in self.of_kind("ConfigMap").values():
            value = cm.get("data", {}).get("ETCD_ENDPOINTS")
            if value is not None and set(value.split(",")) != members:
                problem("ConfigMap ETCD_ENDPOINTS", f"{value} must list every member: "
                                                    f"{','.join(sorted(members))}")

    # -- make-secrets.sh --------------------------------------------------------
    def check_make_secrets(self):
        if shutil.which("openssl") is None:
            print("k8s: make-secrets.sh not run (no openssl)")
            return
        out = subprocess.run(["bash", os.path.join(self.dir, "make-secrets.sh"), NAMESPACE],
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            problem("make-secrets.sh", f"exit {out.returncode}: {out.stderr[-500:]}")
            return
        made = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(out.stdout) if d}
        for name, d in self.of_kind("Secret").items():
            m = made.get(("Secret", name))
            if m is None:
                problem("make-secrets.sh", f"does not produce Secret/{name}")
            elif m.get("type") != d.get("type") or set(m["stringData"]) != set(d["stringData"]):
                problem("make-secrets.sh", f"Secret/{name} differs in type or keys from secret.yaml")
        tls = made.get(("Secret", "latentsearch-tls"))
        if tls is None:
            return
        sans = self.verify_certificate(tls)
        tokens = [line.strip() for line in
                  made[("Secret", "latentsearch-auth")]["stringData"]["tokens"].splitlines()
                  if line.strip() and not line.strip().startswith("#")]
        if len(tokens) != 1 or len(tokens[0]) < 16:
            problem("make-secrets.sh", "expected one token of at least 16 characters")
        print(f"k8s: make-secrets.sh: certificate verifies against its CA, names "
              f"{len(self.server_names)} TLS names among {len(sans)} SANs; 1 token")

    def verify_certificate(self, tls):
        """The certificate chains to the CA and names every TLS name used; returns its SANs."""
        with tempfile.TemporaryDirectory() as tmp:
            for key in ("tls.crt", "ca.crt"):
                with open(os.path.join(tmp, key), "w") as f:
                    f.write(tls["stringData"][key])
            v = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(tmp, "ca.crt"),
                                os.path.join(tmp, "tls.crt")], capture_output=True, text=True)
            if v.returncode != 0:
                problem("make-secrets.sh", f"certificate does not verify: {v.stdout}{v.stderr}")
            text = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
                                   os.path.join(tmp, "tls.crt")],
                                  capture_output=True, text=True).stdout
        sans = set(re.findall(r"DNS:([^,\s]+)", text))
        for name in sorted(self.server_names):
            if name not in sans:
                problem("make-secrets.sh", f"certificate does not name {name} (SANs: {sorted(sans)})")
        return sans
