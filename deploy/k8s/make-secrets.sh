#!/usr/bin/env bash
# Prints the two latentsearch Secrets (latentsearch-tls, latentsearch-auth)
# as YAML with freshly generated material: a CA, one server certificate
# (key: EC P-256) whose SANs name every Service of deploy/k8s in namespace
# NAMESPACE, and one random bearer token. Nothing is written to disk except a
# temporary directory that is removed.
#
#   deploy/k8s/make-secrets.sh [NAMESPACE] > secrets.yaml && kubectl apply -f secrets.yaml
#
# Clients outside the cluster verify with the CA (ca.crt) and send the token:
#   latentsearch <cmd> --tls_ca=ca.crt --token_file=tokens ...
set -euo pipefail
NS=${1:-latentsearch}
DAYS=${LS_CERT_DAYS:-365}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"

SERVICES=(latentsearch-trainer latentsearch-encoder latentsearch-encoder-push latentsearch-search
          latentsearch-search-node latentsearch-gateway)
SAN="DNS:localhost,IP:127.0.0.1"
for s in "${SERVICES[@]}"; do
  SAN+=",DNS:$s,DNS:$s.$NS,DNS:$s.$NS.svc,DNS:$s.$NS.svc.cluster.local"
done
# Search nodes are dialled by pod name (latentsearch-search-node-N.latentsearch-search-node)
# and verified as latentsearch-search-node (--peer_tls_server_name); the
# wildcard covers their fully qualified names.
SAN+=",DNS:*.latentsearch-search-node.$NS.svc.cluster.local"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$DAYS" \
  -subj "/CN=latentsearch CA" -keyout ca.key -out ca.crt \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=latentsearch" \
  -keyout tls.key -out tls.csr 2>/dev/null
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n' \
  "$SAN" > ext.cnf
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days "$DAYS" \
  -extfile ext.cnf -out tls.crt 2>/dev/null
TOKEN=$(openssl rand -hex 32)

indent() { sed 's/^/    /' "$1"; }
cat <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: latentsearch-tls
  namespace: $NS
  labels:
    app.kubernetes.io/name: latentsearch
type: kubernetes.io/tls
stringData:
  tls.crt: |
$(indent tls.crt)
  tls.key: |
$(indent tls.key)
  ca.crt: |
$(indent ca.crt)
---
apiVersion: v1
kind: Secret
metadata:
  name: latentsearch-auth
  namespace: $NS
  labels:
    app.kubernetes.io/name: latentsearch
type: Opaque
stringData:
  tokens: |
    # generated $(date -u +%Y-%m-%dT%H:%M:%SZ)
    $TOKEN
YAML
