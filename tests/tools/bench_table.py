#!/usr/bin/env python3
"""The ratio table of tests/tools/bench_compare.sh's output folder.

    python3 tests/tools/bench_table.py OUT

Reads every round the folder holds (index_{base,new}_R.txt and
model_{base,new}_R.json), pairs base and new round by round, and prints per
case the values, the per-round new/base ratios and the ratio of medians.
"""
import glob
import json
import os
import re
import statistics
import sys


def index_rows(path):
    rows = {}
    for line in open(path):
        c = [x.strip() for x in line.strip().strip('|').split('|')]
        if len(c) == 13 and c[1].isdigit():
            rows[(c[0], c[1], c[2], '1-by-1')] = float(c[3])
            rows[(c[0], c[1], c[2], 'batch')] = float(c[6])
    return rows


def model_rows(path):
    return {b['name'].split('/iterations')[0]: b['img/s']
            for b in json.load(open(path))['benchmarks']}


def rounds(out, kind, ext):
    """Round numbers that have both a base and a new file."""
    found = {}
    for f in glob.glob(os.path.join(out, f'{kind}_*_*.{ext}')):
        m = re.match(rf'{kind}_(base|new)_(\d+)\.{ext}$', os.path.basename(f))
        if m:
            found.setdefault(int(m.group(2)), set()).add(m.group(1))
    return sorted(r for r, w in found.items() if w == {'base', 'new'})


def main():
    out = sys.argv[1]
    print(open(os.path.join(out, 'env.txt')).read())
    for kind, ext, unit, read in (('index', 'txt', 'QPS', index_rows),
                                  ('model', 'json', 'images/s', model_rows)):
        rs = rounds(out, kind, ext)
        if not rs:
            print(f'\n### {kind}: no complete rounds in {out}')
            continue
        per = {}
        for r in rs:
            for w in ('base', 'new'):
                for k, v in read(os.path.join(out, f'{kind}_{w}_{r}.{ext}')).items():
                    per.setdefault(k, {}).setdefault(w, []).append(v)
        n_r = len(rs)
        print(f'\n### {kind} ({unit}; {n_r} rounds: per-round new/base, and the ratio of medians)\n')
        print(f'| case | base ({n_r} rounds) | new ({n_r} rounds) | new/base per round | ratio of medians |')
        print('|---|---|---|---|---|')
        worst = 0
        for k, d in sorted(per.items()):
            b, n = d.get('base', []), d.get('new', [])
            if len(b) != n_r or len(n) != n_r or not all(b):
                continue
            rr = [n[i] / b[i] for i in range(n_r)]
            med = statistics.median(n) / statistics.median(b)
            worst = max(worst, abs(med - 1))
            name = ' '.join(k) if isinstance(k, tuple) else k
            print(f"| {name} | {' / '.join(f'{x:.0f}' for x in b)} | "
                  f"{' / '.join(f'{x:.0f}' for x in n)} | "
                  f"{' / '.join(f'{x:.3f}' for x in rr)} | {med:.3f} |")
        print(f'\nlargest deviation of the ratio of medians from 1: {worst * 100:.1f} %')


if __name__ == '__main__':
    main()
