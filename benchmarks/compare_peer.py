#!/usr/bin/python3
"""Side by side: libgat's gat-bench and a PyTorch GATConv peer on the same
graph, in one run, with medians and peak memory of both.

    /usr/bin/python3 benchmarks/compare_peer.py [--gen rmat] [--nodes 100000]
        [--edges 1000000] [--threads 2] [--reps 10] [--mode infer|train]
        [--reorder none|degree|rcm] [--layer-type gat|gatv2] [--edge-dim D]
        [--bench build/benchmarks/gat-bench] [--json out.json]

Needs Debian's python3-torch and python3-numpy (and, for the peer's best
setup, libopenblas0-openmp and libjemalloc2: `apt-get install python3-torch
python3-numpy libopenblas0-openmp libjemalloc2`).

The peer computes one GATConv layer the way PyTorch Geometric does
(projection, per-node scores, per-edge gather + LeakyReLU, scatter-max,
exp, scatter-sum, divide, gather-multiply, index_add; the E x H x C
message tensor included), over the graph gat-bench generated (exported with
--export-edges, self-loops already in it, so the peer runs with
add_self_loops=False as PyG's benchmarks do). It runs in a child process
per measurement, with OpenBLAS (OpenMP build) on LD_LIBRARY_PATH and
jemalloc preloaded with page retention, the fastest setup found for it on
this machine; peak memory is that child's ru_maxrss.

With --reorder, gat-bench relabels the generated graph (degree or RCM
order, features moving with their nodes) before it exports the edges, so
both sides run the same relabelled graph; the relabelling is a one-time
preprocessing step like building the CSR, timed apart and not in the
forward.

Order inside one run: gat-bench first, then the peer, then gat-bench again;
the reported libgat time is the median over both gat-bench runs, so a load
change during the run hurts both sides.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OPENBLAS_DIRS = ['/usr/lib/x86_64-linux-gnu/openblas-openmp',
                 '/usr/lib/aarch64-linux-gnu/openblas-openmp']
JEMALLOCS = ['/usr/lib/x86_64-linux-gnu/libjemalloc.so.2',
             '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2']


def median(values):
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


# ---------------------------------------------------------------------------
# the peer (child process)
# ---------------------------------------------------------------------------
def peer_layer(x, weight, att_src, att_dst, bias, src, dst, negative_slope=0.2):
    """One GATConv layer, heads concatenated, as PyG computes it, over the
    edges src -> dst as given (self-loops already in them). Also used by
    benchmarks/python_side_by_side.py."""
    import torch.nn.functional as F

    n = x.shape[0]
    heads, ch = att_src.shape[1], att_src.shape[2]
    h = F.linear(x, weight).view(n, heads, ch)
    a_s = (h * att_src).sum(-1)
    a_d = (h * att_dst).sum(-1)
    e = F.leaky_relu(a_s.index_select(0, src) + a_d.index_select(0, dst), negative_slope)
    out = peer_softmax_aggregate(e, h, src, dst, n)
    return out.reshape(n, heads * ch) + bias


def peer_softmax_aggregate(e, h, src, dst, n):
    """PyG's softmax over each destination's edges and the weighted sum of
    the sources' rows h [N, H, C] (the E x H x C message tensor included)."""
    import torch

    heads, ch = h.shape[1], h.shape[2]
    idx = dst.view(-1, 1).expand(-1, heads)
    m = torch.zeros(n, heads).scatter_reduce_(0, idx, e.detach(), reduce='amax',
                                              include_self=False)
    ex = (e - m.index_select(0, dst)).exp()
    s = torch.zeros(n, heads).scatter_add_(0, idx, ex) + 1e-16
    alpha = ex / s.index_select(0, dst)
    msg = h.index_select(0, src) * alpha.unsqueeze(-1)
    return torch.zeros(n, heads, ch).index_add_(0, dst, msg)


def peer_gatv2_layer(x, p, src, dst, edge_attr=None, negative_slope=0.2):
    """One GATv2Conv layer, heads concatenated, as PyG computes it: the
    E x H x C sum xl[j] + xr[i] (+ lin_edge(attr)), LeakyReLU, dot with att."""
    import torch.nn.functional as F

    n = x.shape[0]
    heads, ch = p['att'].shape[1], p['att'].shape[2]
    xl = F.linear(x, p['wl'], p['bl']).view(n, heads, ch)
    xr = F.linear(x, p['wr'], p['br']).view(n, heads, ch)
    z = xl.index_select(0, src) + xr.index_select(0, dst)
    if edge_attr is not None:
        z = z + F.linear(edge_attr, p['we']).view(-1, heads, ch)
    e = (F.leaky_relu(z, negative_slope) * p['att']).sum(-1)
    out = peer_softmax_aggregate(e, xl, src, dst, n)
    return out.reshape(n, heads * ch) + p['bias']


def peer_gat_edge_layer(x, p, src, dst, edge_attr, negative_slope=0.2):
    """One GATConv layer with edge features, heads concatenated: PyG's
    computation, with lin_edge and att_edge folded into one [H, D] matrix
    first (the cheapest way to the same edge scores)."""
    import torch.nn.functional as F

    n = x.shape[0]
    heads, ch = p['att_src'].shape[1], p['att_src'].shape[2]
    h = F.linear(x, p['w']).view(n, heads, ch)
    a_s = (h * p['att_src']).sum(-1)
    a_d = (h * p['att_dst']).sum(-1)
    fold = (p['we'].view(heads, ch, -1) * p['att_edge'].view(heads, ch, 1)).sum(1)
    e = a_s.index_select(0, src) + a_d.index_select(0, dst) + F.linear(edge_attr, fold)
    e = F.leaky_relu(e, negative_slope)
    out = peer_softmax_aggregate(e, h, src, dst, n)
    return out.reshape(n, heads * ch) + p['bias']


def peer_child(args):
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    pairs = torch.from_numpy(np.load(args.edges_npy))
    src, dst = pairs[:, 0].contiguous(), pairs[:, 1].contiguous()
    n, f, heads, ch = args.nodes, args.in_features, args.heads, args.channels
    del pairs
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, f, generator=g)
    weight = torch.nn.Parameter(torch.randn(heads * ch, f, generator=g) * (2.0 / (f + heads * ch)) ** 0.5)
    att_src = torch.nn.Parameter(torch.randn(1, heads, ch, generator=g) * 0.3)
    att_dst = torch.nn.Parameter(torch.randn(1, heads, ch, generator=g) * 0.3)
    bias = torch.nn.Parameter(torch.zeros(heads * ch))

    params = [weight, att_src, att_dst, bias]
    edge_attr = None
    if args.edge_dim > 0:
        edge_attr = torch.rand(src.shape[0], args.edge_dim, generator=g) * 2 - 1
    fam = {}
    if args.layer_type == 'gatv2' or args.edge_dim > 0:
        hc = heads * ch

        def param(*shape):
            return torch.nn.Parameter(torch.randn(*shape, generator=g) * 0.3)

        fam = dict(wl=weight, bl=param(hc), wr=param(hc, f), br=param(hc),
                   att=att_src, w=weight, att_src=att_src, att_dst=att_dst,
                   att_edge=param(1, heads, ch), we=param(hc, max(args.edge_dim, 1)),
                   bias=bias)
        params = list({id(v): v for v in fam.values()}.values())

    def forward():
        if args.layer_type == 'gatv2':
            return peer_gatv2_layer(x, fam, src, dst, edge_attr)
        if args.edge_dim > 0:
            return peer_gat_edge_layer(x, fam, src, dst, edge_attr)
        return peer_layer(x, weight, att_src, att_dst, bias, src, dst)

    def current_rss():
        try:
            with open('/proc/self/statm') as fh:
                return int(fh.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
        except OSError:
            return -1

    times = []
    inputs_rss = current_rss()
    if args.mode == 'infer':
        with torch.no_grad():
            for k in range(args.warmup + args.reps):
                t0 = time.perf_counter()
                forward()
                if k >= args.warmup:
                    times.append(1e3 * (time.perf_counter() - t0))
    else:
        R = torch.randn(n, heads * ch, generator=g)
        opt = torch.optim.SGD(params, lr=0.01)
        inputs_rss = current_rss()
        for k in range(args.warmup + args.reps):
            t0 = time.perf_counter()
            opt.zero_grad()
            (forward() * R).sum().backward()
            opt.step()
            if k >= args.warmup:
                times.append(1e3 * (time.perf_counter() - t0))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print('PEER_JSON ' + json.dumps(dict(ms=times, median_ms=median(times),
                                         peak_rss_bytes=peak, inputs_rss_bytes=inputs_rss,
                                         torch=torch.__version__)))


def peer_env():
    env = dict(os.environ)
    for d in OPENBLAS_DIRS:
        if os.path.isdir(d):
            env['LD_LIBRARY_PATH'] = d + (':' + env['LD_LIBRARY_PATH']
                                          if env.get('LD_LIBRARY_PATH') else '')
            break
    for j in JEMALLOCS:
        if os.path.exists(j):
            env['LD_PRELOAD'] = j
            env['MALLOC_CONF'] = 'dirty_decay_ms:-1,muzzy_decay_ms:-1'
            break
    env.pop('OMP_NUM_THREADS', None)
    return env


# ---------------------------------------------------------------------------
# orchestration
# ---------------------------------------------------------------------------
def run_bench(args, extra, json_path):
    cmd = [args.bench, '--gen', args.gen, '--nodes', str(args.nodes), '--edges',
           str(args.edges), '--seed', str(args.seed), '--in', str(args.in_features),
           '--heads', str(args.heads), '--channels', str(args.channels),
           '--threads', str(args.threads), '--reps', str(args.reps), '--warmup',
           str(args.warmup), '--mode', args.mode, '--reorder', args.reorder,
           '--json', json_path, '--layer-type', args.layer_type] + \
        (['--edge-dim', str(args.edge_dim)] if args.edge_dim > 0 else []) + extra
    print('$ ' + ' '.join(cmd), flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit('gat-bench failed:\n' + p.stderr[-2000:])
    with open(json_path) as fh:
        return json.load(fh)


def matching_run(bench, args):
    """The gat-bench run comparable with the peer's: the requested thread
    count and, in train mode, no attention dropout (gat-bench --mode train
    also times a step with attention dropout 0.6, which the peer has not;
    its JSON lists that run last)."""
    runs = [r for r in bench['runs'] if r.get('threads') == args.threads]
    if args.mode == 'train':
        runs = [r for r in runs if r.get('attention_dropout', 0.0) == 0.0]
    return runs[-1] if runs else {}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--gen', default='rmat', choices=['rmat', 'uniform'])
    ap.add_argument('--nodes', type=int, default=100000)
    ap.add_argument('--edges', type=int, default=1000000)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--in', dest='in_features', type=int, default=128)
    ap.add_argument('--heads', type=int, default=8)
    ap.add_argument('--channels', type=int, default=8)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--reps', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--mode', default='infer', choices=['infer', 'train'])
    ap.add_argument('--reorder', default='none', choices=['none', 'degree', 'rcm'],
                    help="gat-bench's relabelling; the peer gets the relabelled graph")
    ap.add_argument('--layer-type', default='gat', choices=['gat', 'gatv2'],
                    help='GATConv or GATv2Conv, on both sides')
    ap.add_argument('--edge-dim', type=int, default=0,
                    help='edge features of this width (random attributes) on both sides')
    ap.add_argument('--bench', default=os.path.join(ROOT, 'build', 'benchmarks', 'gat-bench'))
    ap.add_argument('--json', default=None, help='write the comparison here')
    ap.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    ap.add_argument('--edges-npy', help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return peer_child(args)
    if not os.path.exists(args.bench):
        sys.exit(f'{args.bench} not found: build first (bash tools/run.sh build)')

    key = 'forward_ms_median' if args.mode == 'infer' else 'train_step_ms_median'
    with tempfile.TemporaryDirectory(prefix='gat-peer-') as tmp:
        edges_npy = os.path.join(tmp, 'edges.npy')
        # The export run is separate, so its buffers do not count toward the
        # measured run's peak memory.
        run_bench(args, ['--export-edges', edges_npy, '--no-probe', '--reps', '1',
                         '--warmup', '0'], os.path.join(tmp, 'export.json'))
        first = run_bench(args, [], os.path.join(tmp, 'bench1.json'))
        cmd = [sys.executable, os.path.abspath(__file__), '--child', '--edges-npy', edges_npy,
               '--nodes', str(first['nodes']), '--in', str(args.in_features), '--heads',
               str(args.heads), '--channels', str(args.channels), '--threads',
               str(args.threads), '--reps', str(args.reps), '--warmup', str(args.warmup),
               '--mode', args.mode, '--layer-type', args.layer_type, '--edge-dim',
               str(args.edge_dim)]
        print('$ ' + ' '.join(cmd) + '   # PyTorch peer, OpenBLAS + jemalloc', flush=True)
        p = subprocess.run(cmd, env=peer_env(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
        peer = None
        for line in p.stdout.splitlines():
            if line.startswith('PEER_JSON '):
                peer = json.loads(line[len('PEER_JSON '):])
        if peer is None:
            sys.exit('peer failed:\n' + p.stderr[-3000:])
        second = run_bench(args, ['--no-probe'], os.path.join(tmp, 'bench2.json'))

    ours_ms = [t for run in (first, second) for t in matching_run(run, args).get(
        'forward_ms' if args.mode == 'infer' else 'train_step_ms', [])]
    ours = median(ours_ms) if ours_ms else first[key]
    ours_rss = max(first['peak_rss_bytes'], second['peak_rss_bytes'])
    print()
    print(f"graph: {args.gen} {first['nodes']} nodes, {first['edges']} edges with self-loops"
          f"{'' if args.reorder == 'none' else ', relabelled by ' + args.reorder + ' (both sides)'}; "
          f"{args.in_features} -> {args.heads} x {args.channels} "
          f"{'GATv2Conv' if args.layer_type == 'gatv2' else 'GATConv'}"
          f"{f', edge_dim {args.edge_dim}' if args.edge_dim else ''}; {args.threads} thread(s); "
          f"{args.mode}")
    print(f"{'':10} {'median ms':>12} {'peak MiB':>10}")
    print(f"{'libgat':10} {ours:12.2f} {ours_rss / 2**20:10.1f}")
    print(f"{'pytorch':10} {peer['median_ms']:12.2f} {peer['peak_rss_bytes'] / 2**20:10.1f}")
    print(f"speed-up: {peer['median_ms'] / ours:.1f}x   memory: 1/{peer['peak_rss_bytes'] / ours_rss:.1f}")
    # Both peaks hold the same inputs (x, the edge attributes) and each
    # process's own runtime (torch's libraries on the peer's side): the
    # resident set when the timed runs start, taken on both sides, and what
    # the runs added on top of it.
    ours_in = max(first.get('inputs_rss_bytes', -1), second.get('inputs_rss_bytes', -1))
    added = None
    if ours_in > 0 and peer.get('inputs_rss_bytes', -1) > 0:
        added = dict(libgat=ours_rss - ours_in, peer=peer['peak_rss_bytes'] - peer['inputs_rss_bytes'])
        print(f"at the start of the runs (inputs, runtime): libgat {ours_in / 2**20:.1f} MiB, "
              f"pytorch {peer['inputs_rss_bytes'] / 2**20:.1f} MiB; added by the runs: libgat "
              f"{added['libgat'] / 2**20:.1f} MiB, pytorch {added['peer'] / 2**20:.1f} MiB "
              f"(1/{added['peer'] / max(added['libgat'], 1):.1f})")
    if args.json:
        with open(args.json, 'w') as fh:
            json.dump(dict(config=vars(args), libgat=dict(median_ms=ours, samples_ms=ours_ms,
                                                          peak_rss_bytes=ours_rss,
                                                          runs=[first, second]),
                           peer=peer, speedup=peer['median_ms'] / ours,
                           memory_ratio=peer['peak_rss_bytes'] / ours_rss,
                           added_by_runs_bytes=added), fh, indent=1)


if __name__ == '__main__':
    main()
