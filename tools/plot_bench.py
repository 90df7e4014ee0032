#!/usr/bin/env python3
"""Renders gat-bench --json output with gnuplot: thread scaling (median
forward time and speed-up per thread count) and the phase times of every
run next to their roofline floors.

    build/benchmarks/gat-bench --threads 1,2 --json bench.json
    python3 tools/plot_bench.py bench.json [more.json ...] --out bench.png

Needs python3 (standard library only) and gnuplot (Debian: gnuplot-nox).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile


def load_runs(paths):
    rows = []
    for path in paths:
        with open(path) as fh:
            doc = json.load(fh)
        for run in doc.get('runs', []):
            roof = run.get('roofline', {})
            rows.append(dict(threads=run['threads'], total=run['forward_ms_median'],
                             projection=run['projection_ms_median'],
                             edges=run['edges_ms_median'],
                             projection_floor=roof.get('projection_floor_ms', 0.0),
                             edge_floor=roof.get('edge_floor_ms', 0.0)))
        label = doc.get('graph', os.path.basename(path))
    rows.sort(key=lambda r: r['threads'])
    return rows, label


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('json', nargs='+', help='gat-bench --json files')
    ap.add_argument('--out', default='bench.png', help='PNG to write (default bench.png)')
    args = ap.parse_args()
    if shutil.which('gnuplot') is None:
        sys.exit('plot_bench.py: gnuplot not found (apt-get install gnuplot-nox)')
    rows, label = load_runs(args.json)
    if not rows:
        sys.exit('plot_bench.py: no runs in ' + ', '.join(args.json))
    base = rows[0]['total'] * rows[0]['threads']
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, 'runs.dat')
        with open(data, 'w') as fh:
            fh.write('# threads total projection edges projection_floor edge_floor speedup\n')
            for r in rows:
                fh.write(f"{r['threads']} {r['total']} {r['projection']} {r['edges']} "
                         f"{r['projection_floor']} {r['edge_floor']} {base / r['total']}\n")
        script = f"""
set terminal pngcairo size 1200,500 font ',10'
set output '{args.out}'
set multiplot layout 1,2 title 'gat-bench: {label}'
set title 'thread scaling'
set xlabel 'threads'
set ylabel 'forward median (ms)'
set y2label 'speed-up vs 1 thread'
set y2tics
set ytics nomirror
set grid
set key top right
plot '{data}' using 1:2 with linespoints lw 2 title 'forward ms', \\
     '' using 1:7 axes x1y2 with linespoints lw 2 dt 2 title 'speed-up', \\
     '' using 1:1 axes x1y2 with lines lc 'gray' dt 3 title 'ideal'
unset y2tics
unset y2label
set title 'phases against the roofline floor'
set yrange [0:*]
set ylabel 'ms'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
plot '{data}' using 3:xtic(1) title 'projection', '' using 5 title 'projection floor', \\
     '' using 4 title 'edge phase', '' using 6 title 'edge floor'
unset multiplot
"""
        p = subprocess.run(['gnuplot'], input=script, text=True, capture_output=True)
        if p.returncode != 0:
            sys.exit('plot_bench.py: gnuplot failed: ' + p.stderr.strip())
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
