#!/usr/bin/env python3
"""Peer baselines of the sparse rate-network step, f32:
v <- v + dt/tau * (-v + relu(h + W v)) with W in CSR, each neuron with K
random presynaptic partners (`attractor bench --operator sparse --degree
K`: the same sizes and distribution, drawn here by numpy), values
0.9 / sqrt(K) times a standard normal.

Peers: scipy.sparse (CSR @ x, CPU) and, where torch imports,
torch.sparse_csr_tensor on the CPU and (--device cuda) on the GPU. One
JSON line per peer and size: {"peer", "n", "degree", "nnz", "steps",
"seconds_per_step", "gbytes_per_second"}, the bytes being the values and
columns (4 bytes each) and the row places, as attractor counts them.

    python3 sparse_step.py --n 100000 --degree 100 --steps 100
"""
import argparse
import json
import time

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--n", type=int, nargs="+", default=[100_000])
ap.add_argument("--degree", type=int, default=100)
ap.add_argument("--steps", type=int, default=100)
ap.add_argument("--warmup", type=int, default=5)
ap.add_argument("--peers", nargs="+", default=["scipy", "torch"])
ap.add_argument("--device", default="cpu")
a = ap.parse_args()


def matrix(n, k):
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    cols = rng.integers(0, n, size=(n, k), dtype=np.int32)
    vals = (rng.standard_normal((n, k), dtype=np.float32) * (0.9 / np.sqrt(k))).astype(np.float32)
    rows = np.repeat(np.arange(n, dtype=np.int32), k)
    w = sp.csr_matrix((vals.ravel(), (rows, cols.ravel())), shape=(n, n), dtype=np.float32)
    w.sum_duplicates()
    return w


def timed(step, steps, warmup, sync=lambda: None):
    for _ in range(warmup):
        step()
    sync()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return (time.perf_counter() - t) / steps


dt_tau = np.float32(0.05)
for n in a.n:
    w = matrix(n, a.degree)
    nbytes = w.nnz * 8 + (n + 1) * 8
    out = lambda peer, s: print(
        json.dumps(
            {
                "peer": peer,
                "n": n,
                "degree": a.degree,
                "nnz": int(w.nnz),
                "steps": a.steps,
                "seconds_per_step": s,
                "gbytes_per_second": nbytes / s / 1e9,
            }
        ),
        flush=True,
    )
    if "scipy" in a.peers:
        v = np.zeros(n, dtype=np.float32)
        h = np.full(n, 0.1, dtype=np.float32)

        def step():
            global v
            v += dt_tau * (-v + np.maximum(h + w @ v, 0.0))

        out("scipy", timed(step, a.steps, a.warmup))
    if "torch" in a.peers:
        try:
            import torch
        except ImportError:
            continue
        dev = torch.device(a.device)
        wt = torch.sparse_csr_tensor(
            torch.from_numpy(w.indptr.astype(np.int64)),
            torch.from_numpy(w.indices.astype(np.int64)),
            torch.from_numpy(w.data),
            size=(n, n),
        ).to(dev)
        vt = torch.zeros(n, 1, device=dev)
        ht = torch.full((n, 1), 0.1, device=dev)
        sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

        def tstep():
            global vt
            vt = vt + float(dt_tau) * (-vt + torch.relu(ht + wt @ vt))

        with torch.no_grad():
            out(f"torch_{dev.type}", timed(tstep, a.steps, a.warmup, sync))
