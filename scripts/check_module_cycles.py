#!/usr/bin/env python3
"""Fails when two top-level modules of one crate import each other, directly or through others
(`crate::a` used in `b` and `crate::b` in `a`). Comments and unit-test modules do not count.
Run from the repository root; CI runs it (ARCHITECTURE.md promises no import cycles)."""
import os,re,sys,itertools
def top_modules(src):
    mods={}
    for root,_,files in os.walk(src):
        for f in files:
            if not f.endswith('.rs'): continue
            p=os.path.join(root,f); rel=os.path.relpath(p,src)
            parts=rel[:-3].split(os.sep)
            if parts[0] in ('lib','main'): continue
            top=parts[0]
            mods.setdefault(top,[]).append(p)
    return mods
failed = False
for crate in ['src','crates/biome-core/src','crates/biome-kernels/src','crates/biome-modules/src','crates/biome-models/src','crates/biome-train/src','crates/biome-resolve/src']:
    mods=top_modules(crate)
    g={m:set() for m in mods}
    for m,files in mods.items():
        for p in files:
            t=open(p).read()
            # strip tests
            i=t.find('#[cfg(test)]\nmod tests')
            if i>=0: t=t[:i]
            t="\n".join(l for l in t.split("\n") if not l.strip().startswith("//"))
            for x in re.findall(r'crate::([a-z_0-9]+)',t):
                if x in g and x!=m: g[m].add(x)
            for x in re.findall(r'use crate::\{([^}]*)\}',t):
                for y in re.findall(r'\b([a-z_0-9]+)\b',x):
                    if y in g and y!=m: g[m].add(y)
    # find cycles
    def reach(a):
        seen=set();st=[a]
        while st:
            n=st.pop()
            for k in g[n]:
                if k not in seen: seen.add(k); st.append(k)
        return seen
    cyc=[(a,b) for a in g for b in g[a] if a in reach(b)]
    if cyc:
        print(f'{crate}: modules import each other: {sorted(set(tuple(sorted(c)) for c in cyc))}')
        failed = True
sys.exit(1 if failed else 0)
