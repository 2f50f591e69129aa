"""The compose half of validate_deploy.py: deploy/docker-compose.yml, service
by service (health-gated depends_on, healthchecks, init, ports, volumes,
flags), the search cluster's shape (etcd, nodes, routers sharing the alias
`search`) and the encoder replicas' (two or more sharing the alias `encoders`,
each on its own volume, pulling from the trainer, pushed to and dialled as
dns:///encoders); runs `docker-compose config` when it is installed.
Problems go to manifest_util.problems. Not thread-safe (one run per process).
"""
import os
import re
import shutil
import subprocess

from manifest_util import (NODE_HEALTH, ROUTER_HEALTH, binary_of, check_flags, flag,
                           listen_port, load_docs, problem)

WHERE = "docker-compose.yml"
ROUTER_ALIAS = "search"
ENCODER_ALIAS = "encoders"


def expand(text):
    """Compose interpolation with every variable unset: ${VAR:-default} ->
    default, ${VAR} -> ''."""
    return re.sub(r"\$\{\w+(?::?-([^}]*))?\}", lambda m: m.group(1) or "", str(text))


def command_of(s):
    return expand(s.get("command", "")).split()


def healthcheck_of(s):
    hc = (s.get("healthcheck") or {}).get("test", [])
    return hc[1] if len(hc) > 1 and hc[0] == "CMD-SHELL" else ""


def role_of(s):
    return flag(command_of(s), "role")


def check_service(name, s, volumes, source_dir, flag_cache):
    where = f"{WHERE} {name}"
    if s.get("init") is not True:
        problem(where, "init: true missing")
    binary = binary_of(s.get("image"))
    if binary is None:
        problem(where, f"image {s.get('image')} is not a latentsearch image")
        return
    if "cli" in (s.get("profiles") or []):
        return
    hc = healthcheck_of(s)
    command = command_of(s)
    check_flags(where, binary, command, source_dir, flag_cache)
    if binary == "etcd":
        if not re.search(r"etcdctl .*endpoint health|/health", hc):
            problem(where, "healthcheck must be CMD-SHELL etcdctl ... endpoint health")
    elif binary == "latentsearch-gateway":
        if not re.search(r"GET /(healthz|readyz) ", hc):
            problem(where, "healthcheck must GET /healthz or /readyz (HTTP)")
    elif "latentsearch-probe" not in hc:
        problem(where, "healthcheck must be CMD-SHELL latentsearch-probe ...")
    else:
        check_flags(f"{where} healthcheck", "latentsearch-probe", hc.split()[1:], source_dir,
                    flag_cache)
    listen = listen_port(binary, command)
    if listen is None or f"127.0.0.1:{listen}" not in hc:
        problem(where, f"healthcheck does not probe the listen port {listen}")
    for p in s.get("ports", []):
        if not str(p).startswith("${LS_BIND_ADDRESS:-127.0.0.1}:"):
            problem(where, f"port {p} is not bound to ${{LS_BIND_ADDRESS:-127.0.0.1}}")
    for v in s.get("volumes", []):
        src = expand(v).split(":")[0]
        if not src.startswith(("/", ".")) and src not in volumes:
            problem(where, f"volume {src} is not declared under volumes:")
    for dep, cond in (s.get("depends_on") or {}).items():
        if not isinstance(cond, dict) or cond.get("condition") != "service_healthy":
            problem(where, f"depends_on {dep} is not health-gated (service_healthy)")


def check_published_ports(services):
    seen = {}
    for name, s in services.items():
        for p in s.get("ports", []):
            host = ":".join(expand(p).split(":")[:-1])
            if host in seen:
                problem(f"{WHERE} {name}", f"publishes {host}, as {seen[host]} does")
            seen[host] = name


def aliases_of(s):
    nets = s.get("networks") or {}
    if isinstance(nets, list):
        return set()
    return {a for n in nets.values() for a in ((n or {}).get("aliases") or [])}


def check_etcd_dependent(where, s, etcd_services):
    """A node or router: --etcd names etcd services, and it starts after them."""
    command = command_of(s)
    urls = flag(command, "etcd") or ""
    for url in filter(None, urls.split(",")):
        m = re.match(r"^https?://([\w.-]+):(\d+)$", url)
        if not m or m.group(1) not in etcd_services or \
                m.group(2) != listen_port("etcd", command_of(etcd_services[m.group(1)])):
            problem(where, f"--etcd URL {url} is not an etcd service's client port")
    if not urls:
        problem(where, "no --etcd")
    deps = s.get("depends_on") or {}
    if not any(e in deps for e in etcd_services):
        problem(where, "must start after etcd (depends_on etcd: service_healthy)")


def check_nodes(nodes, etcd_services):
    seen_volumes = {}
    for name, s in nodes.items():
        where = f"{WHERE} {name}"
        command = command_of(s)
        want = f"{name}:{listen_port('latentsearch-search', command)}"
        if flag(command, "advertise") != want:
            problem(where, f"--advertise must be {want} (its service name), not "
                           f"{flag(command, 'advertise')}")
        if any(a.startswith("--encoder") for a in command):
            problem(where, "nodes must not hold --encoder (routers encode image queries)")
        if f"--service={NODE_HEALTH}" not in healthcheck_of(s):
            problem(where, f"healthcheck must ask for {NODE_HEALTH}")
        check_etcd_dependent(where, s, etcd_services)
        data_dir = flag(command, "data_dir")
        mounts = {expand(v).split(":")[1]: expand(v).split(":")[0] for v in s.get("volumes", [])}
        if data_dir not in mounts:
            problem(where, f"--data_dir {data_dir} is not a volume")
        elif mounts[data_dir] in seen_volumes:
            problem(where, f"shares volume {mounts[data_dir]} with {seen_volumes[mounts[data_dir]]}")
        else:
            seen_volumes[mounts[data_dir]] = name


def check_routers(routers, services, etcd_services):
    for name, s in routers.items():
        where = f"{WHERE} {name}"
        if ROUTER_ALIAS not in aliases_of(s):
            problem(where, f"routers must carry the network alias '{ROUTER_ALIAS}'")
        if f"--service={ROUTER_HEALTH}" not in healthcheck_of(s):
            problem(where, f"healthcheck must ask for {ROUTER_HEALTH}")
        if not flag(command_of(s), "encoder"):
            problem(where, "routers hold --encoder (image queries)")
        check_etcd_dependent(where, s, etcd_services)
    for name, s in services.items():
        if name not in routers and (name == ROUTER_ALIAS or ROUTER_ALIAS in aliases_of(s)):
            problem(f"{WHERE} {name}", f"only routers may answer to '{ROUTER_ALIAS}'")
    cli = services.get("cli", {})
    for r in routers:
        if r not in (cli.get("depends_on") or {}):
            problem(f"{WHERE} cli", f"must start after the router {r}")


def check_cluster(services):
    etcd_services = {n: s for n, s in services.items() if binary_of(s.get("image")) == "etcd"}
    nodes = {n: s for n, s in services.items() if role_of(s) == "node"}
    routers = {n: s for n, s in services.items() if role_of(s) == "router"}
    if not etcd_services:
        problem(WHERE, "no etcd service")
    if len(nodes) < 3:
        problem(WHERE, f"{len(nodes)} search nodes (--role=node), expected at least 3")
    if len(routers) < 2:
        problem(WHERE, f"{len(routers)} routers (--role=router), expected at least 2")
    for name, s in services.items():
        if binary_of(s.get("image")) == "latentsearch-search" and name not in nodes and \
                name not in routers:
            problem(f"{WHERE} {name}", "a search service must be --role=node or --role=router")
    check_nodes(nodes, etcd_services)
    check_routers(routers, services, etcd_services)
    return (f"cluster: {', '.join(etcd_services)}; nodes {', '.join(nodes)}; "
            f"routers {', '.join(routers)} (alias '{ROUTER_ALIAS}')")


def check_encoders(services):
    encoders = {n: s for n, s in services.items()
                if binary_of(s.get("image")) == "latentsearch-encoder" and
                not s.get("profiles")}
    if len(encoders) < 2:
        problem(WHERE, f"{len(encoders)} encoders, expected at least 2")
    seen_volumes = {}
    for name, s in encoders.items():
        where = f"{WHERE} {name}"
        command = command_of(s)
        if ENCODER_ALIAS not in aliases_of(s):
            problem(where, f"encoders must carry the network alias '{ENCODER_ALIAS}'")
        if not flag(command, "pull_from"):
            problem(where, "--pull_from is missing: a replica that missed a push would never "
                           "get the version")
        data_dir = flag(command, "data_dir")
        mounts = {expand(v).split(":")[1]: expand(v).split(":")[0] for v in s.get("volumes", [])}
        volume = mounts.get(data_dir)
        if volume is None:
            problem(where, f"--data_dir {data_dir} is not a volume")
        elif volume in seen_volumes:
            problem(where, f"shares volume {volume} with {seen_volumes[volume]}")
        else:
            seen_volumes[volume] = name
    want = f"dns:///{ENCODER_ALIAS}:50052"
    trainer = services.get("trainer", {})
    if want not in (flag(command_of(trainer), "push_to") or "").split(","):
        problem(f"{WHERE} trainer", f"--push_to must include {want} (every encoder)")
    for name in encoders:
        if name not in (trainer.get("depends_on") or {}):
            problem(f"{WHERE} trainer", f"must depend on the encoder {name}")
    for name, s in services.items():
        if role_of(s) == "router" and flag(command_of(s), "encoder") != want:
            problem(f"{WHERE} {name}", f"--encoder must be {want} (round_robin over every "
                                       f"encoder)")
    return f"encoders {', '.join(encoders)} (alias '{ENCODER_ALIAS}')"


def check_compose(source_dir):
    path = os.path.join(source_dir, "deploy", "docker-compose.yml")
    doc = load_docs(path)[0]
    services = doc.get("services", {})
    volumes = set((doc.get("volumes") or {}).keys())
    flag_cache = {}
    for name in ("trainer", "encoder", "cli"):
        if name not in services:
            problem(WHERE, f"no service {name}")
    for name, s in services.items():
        check_service(name, s, volumes, source_dir, flag_cache)
    if "encoder" not in (services.get("trainer", {}).get("depends_on") or {}):
        problem(f"{WHERE} trainer", "must depend on the encoder")
    check_published_ports(services)
    cluster = check_cluster(services)
    encoders = check_encoders(services)
    msg = (f"compose: {len(services)} services checked ({', '.join(services)}); {cluster}; "
           f"{encoders}")
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
