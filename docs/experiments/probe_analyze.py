# Joins the /tmp/probe-PID.txt files of docs/experiments/call-probe.patch (every process of
# one run) into per-call timelines: python3 probe_analyze.py 1,2,3,...  [1=name,2=name]
# takes each occurrence of the first point followed by the others in order, and prints the
# median time between consecutive points.
import sys, glob, statistics
ev=[]
for f in glob.glob('/tmp/probe-*.txt'):
    for line in open(f):
        a,b=line.split()
        a=int(a); b=int(b)
        if b: ev.append((b,a))
ev.sort()
order=[int(x) for x in sys.argv[1].split(',')]
names=dict(x.split('=') for x in sys.argv[2].split(',')) if len(sys.argv)>2 else {}
deltas={k:[] for k in range(len(order)-1)}; totals=[]
i=0; n=len(ev)
while i<n:
    if ev[i][1]!=order[0]: i+=1; continue
    t=[ev[i][0]]; j=i+1; k=1; ok=True
    while k<len(order) and j<n:
        if ev[j][1]==order[0]: ok=False; break
        if ev[j][1]==order[k]: t.append(ev[j][0]); k+=1
        j+=1
    if ok and k==len(order):
        for q in range(len(order)-1): deltas[q].append(t[q+1]-t[q])
        totals.append(t[-1]-t[0])
    i=j if ok else j
print("cycles:",len(totals))
for q in range(len(order)-1):
    d=deltas[q]
    if d: print(f"{names.get(str(order[q]),order[q])} -> {names.get(str(order[q+1]),order[q+1])}: median {statistics.median(d)/1000:.1f} us  p25 {sorted(d)[len(d)//4]/1000:.1f}")
if totals: print("total median", statistics.median(totals)/1000, "us")
