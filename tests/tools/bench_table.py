# The ratio table of tests/tools/bench_compare.sh's output folder.
#   python3 tests/tools/bench_table.py OUT
import json, glob, re, statistics, sys
OUT=sys.argv[1]
def index_rows(path):
    rows={}
    for line in open(path):
        c=[x.strip() for x in line.strip().strip('|').split('|')]
        if len(c)==13 and c[1].isdigit():
            rows[(c[0],c[1],c[2],'1-by-1')]=float(c[3]); rows[(c[0],c[1],c[2],'batch')]=float(c[6])
    return rows
def model_rows(path):
    rows={}
    for b in json.load(open(path))['benchmarks']:
        rows[b['name'].split('/iterations')[0]]=b['img/s']
    return rows
print(open(OUT+'/env.txt').read())
for kind,fn,unit in (('index','txt','QPS'),('model','json','images/s')):
    per={}
    for r in (1,2,3):
        for w in ('base','new'):
            f=f'{OUT}/{kind}_{w}_{r}.{fn}'
            rows=index_rows(f) if kind=='index' else model_rows(f)
            for k,v in rows.items(): per.setdefault(k,{}).setdefault(w,[]).append(v)
    print(f'\n### {kind} ({unit}; per round new/base, and median-of-3 ratio)\n')
    print('| case | base (3 rounds) | new (3 rounds) | new/base per round | median ratio |')
    print('|---|---|---|---|---|')
    worst=0
    for k,d in sorted(per.items()):
        b,n=d.get('base',[]),d.get('new',[])
        if len(b)!=3 or len(n)!=3 or not all(b): continue
        rr=[n[i]/b[i] for i in range(3)]; med=statistics.median(n)/statistics.median(b)
        worst=max(worst,abs(med-1))
        name=' '.join(k) if isinstance(k,tuple) else k
        print(f"| {name} | {' / '.join(f'{x:.0f}' for x in b)} | {' / '.join(f'{x:.0f}' for x in n)} | {' / '.join(f'{x:.3f}' for x in rr)} | {med:.3f} |")
    print(f'\nlargest deviation of the median ratio from 1: {worst*100:.1f} %')
