#!/usr/bin/env python3
"""Parses a Prometheus text-format page with the reference parser
(python3-prometheus-client, not our code) and prints one line per family and
per sample, for tests/integration/metrics:

  family<TAB>NAME<TAB>TYPE
  sample<TAB>NAME{k="v",...}<TAB>VALUE      (labels sorted by name)

Exit status 2 when the page does not parse (the parser's message on stderr),
3 when prometheus_client is missing.
"""
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError as e:  # pragma: no cover
    print(f"python3-prometheus-client is not installed: {e}", file=sys.stderr)
    sys.exit(3)


def main():
    text = open(sys.argv[1], encoding="utf-8").read()
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # The parser raises ValueError and friends.
        print(f"not valid Prometheus text format: {e!r}", file=sys.stderr)
        sys.exit(2)
    for family in families:
        print(f"family\t{family.name}\t{family.type}")
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            print(f"sample\t{s.name}{{{labels}}}\t{float(s.value)!r}")


if __name__ == "__main__":
    main()
