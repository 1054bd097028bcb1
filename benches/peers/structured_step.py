#!/usr/bin/env python3
"""Peer baselines for the structured steps of `attractor bench`: the ring and
the Hebbian network written as a user would in numpy and in JAX (jit, the
steps fused by lax.fori_loop), f32, the same equations as the bench's cases:

    v <- v + dt/tau * (-v + relu(h + M v)),  h = 0.1, dt/tau = 0.01
    --dynamics current --activation tanh --beta B (a continuous Hopfield
    network as users run it):
    I <- I + dt/tau * (-I + h + M tanh(B I))
    ring:    M v = (2/N) (-lambda0 sum(v) + lambda1 (cos (cos . v) + sin (sin . v))),
             lambda0 = 0.5, lambda1 = 1.5, theta_i = 2 pi i / N
    hebbian: M v = (1/N) X^T (X v) - (P/N) v,  X the P x N patterns (+-1)

One JSON line per case: {"peer", "operator", "n", "patterns", "steps",
"seconds_per_step"}. With --attractor BIN, each ring case first runs BIN on
the same network for 100 steps and checks that numpy (and JAX) reach its
final state from its initial state within 1e-5 (f32 sums in another order
differ by about 1e-7 per step; with current dynamics the rates F(I) from
I = 0); the Hebbian patterns here are numpy's own.

    python3 structured_step.py --operator ring --n 512 4096 65536 1000000
    python3 structured_step.py --operator hebbian --n 2000 --patterns 100
    python3 structured_step.py --operator hebbian --dynamics current \
        --activation tanh --beta 4 --n 2000 --patterns 100
"""
import argparse, json, os, subprocess, tempfile, time
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--operator", choices=["ring", "hebbian"], default="ring")
ap.add_argument("--n", type=int, nargs="+", default=[512, 4096, 65536])
ap.add_argument("--patterns", type=int, default=16)
ap.add_argument("--seconds", type=float, default=0.5, help="about this long per timing")
ap.add_argument("--reps", type=int, default=5, help="timings per case (median reported)")
ap.add_argument("--peer", choices=["numpy", "jax", "both"], default="both")
ap.add_argument("--attractor", help="attractor binary: check the numbers against it")
ap.add_argument("--dynamics", choices=["rate", "current"], default="rate")
ap.add_argument("--activation", choices=["relu", "tanh"], default="relu")
ap.add_argument("--beta", type=float, default=1.0, help="tanh's gain")
a = ap.parse_args()

A = np.float32(0.01)  # dt / tau
H = np.float32(0.1)
B = np.float32(a.beta)


def update(xp, x, mv_of):
    """One Euler step of the chosen dynamics and activation, with `mv_of`
    the product by M (xp: numpy or jax.numpy)."""
    f = (lambda u: xp.maximum(u, 0)) if a.activation == "relu" else (lambda u: xp.tanh(B * u))
    if a.dynamics == "rate":
        return x + A * (-x + f(H + mv_of(x)))
    return x + A * (-x + H + mv_of(f(x)))


def tables(n, p):
    if a.operator == "ring":
        th = 2 * np.pi * np.arange(n) / n
        return np.cos(th).astype(np.float32), np.sin(th).astype(np.float32)
    rng = np.random.default_rng(0)
    return (np.where(rng.random((p, n)) < 0.5, -1.0, 1.0).astype(np.float32),)


def numpy_step(n, p, t):
    if a.operator == "ring":
        cos, sin = t
        s0, s1 = np.float32(-2 * 0.5 / n), np.float32(2 * 1.5 / n)

        def step(v):
            return update(np, v, lambda u: s0 * u.sum() + s1 * (cos * (cos @ u) + sin * (sin @ u)))
    else:
        (x,) = t
        c, d = np.float32(1 / n), np.float32(-p / n)

        def step(v):
            return update(np, v, lambda u: c * (x.T @ (x @ u)) + d * u)
    return step


def jax_steps(n, p, t):
    import jax, jax.numpy as jnp

    if a.operator == "ring":
        cos, sin = (jnp.asarray(u) for u in t)
        s0, s1 = jnp.float32(-2 * 0.5 / n), jnp.float32(2 * 1.5 / n)

        def step(_, v):
            return update(jnp, v, lambda u: s0 * u.sum() + s1 * (cos * (cos @ u) + sin * (sin @ u)))
    else:
        x = jnp.asarray(t[0])
        c, d = jnp.float32(1 / n), jnp.float32(-p / n)

        def step(_, v):
            return update(jnp, v, lambda u: c * (x.T @ (x @ u)) + d * u)

    @jax.jit
    def run(v, k):
        return jax.lax.fori_loop(0, k, step, v)

    return lambda v, k: np.asarray(run(jnp.asarray(v), k).block_until_ready())


def attractor_run(n, p, steps):
    """The bench's network run by attractor for `steps` steps: (v0, v_end),
    rates.npy's first and last rows."""
    weights = ('{ kind = "ring", lambda0 = 0.5, lambda1 = 1.5 }' if a.operator == "ring"
               else '{ kind = "hebbian", patterns = %d }' % p)
    activation = ('{ kind = "relu" }' if a.activation == "relu"
                  else '{ kind = "tanh", beta = %r }' % a.beta)
    toml = f"""
[network]
n = {n}
tau = 0.01
dynamics = "{a.dynamics}"
activation = {activation}
weights = {weights}
[[input]]
kind = "uniform"
value = 0.1
[simulation]
duration = {steps * 1e-4}
dt = 0.0001
record_every = {steps}
precision = "f32"
backend = "cpu"
"""
    with tempfile.TemporaryDirectory() as d:
        f = os.path.join(d, "e.toml")
        open(f, "w").write(toml)
        subprocess.run([a.attractor, "run", f, "--out", os.path.join(d, "out"), "--quiet"],
                       check=True, stdout=subprocess.DEVNULL)
        r = np.load(os.path.join(d, "out", "rates.npy"))
        return r[0], r[-1]


def timed(run_k, v0):
    """Seconds per step: a run of 2K steps minus one of K, over K (no fixed
    cost), the median of --reps such differences."""
    k = 8
    while True:
        t = time.perf_counter(); run_k(v0, k); el = time.perf_counter() - t
        if el > a.seconds / 4 or k >= 1 << 22:
            break
        k *= 4
    out = []
    for _ in range(a.reps):
        t = time.perf_counter(); run_k(v0, k); t1 = time.perf_counter() - t
        t = time.perf_counter(); run_k(v0, 2 * k); t2 = time.perf_counter() - t
        out.append(max(t2 - t1, 1e-12) / k)
    return float(np.median(out)), k


for n in a.n:
    p = a.patterns
    t = tables(n, p)
    step = numpy_step(n, p, t)

    def numpy_k(v, k):
        for _ in range(k):
            v = step(v)
        return v

    peers = {"numpy": numpy_k} if a.peer in ("numpy", "both") else {}
    if a.peer in ("jax", "both"):
        try:
            peers["jax"] = jax_steps(n, p, t)
        except ImportError:
            print(json.dumps({"peer": "jax", "error": "jax is not installed (pip install jax)"}))
    v0 = np.random.default_rng(1).random(n, dtype=np.float32)
    if a.attractor and a.operator == "ring":
        start, end = attractor_run(n, p, 100)
        # rates.npy holds the rates: with current dynamics F(I), from I = 0.
        rates = ((lambda u: u) if a.dynamics == "rate" else
                 (lambda u: np.maximum(u, 0)) if a.activation == "relu" else
                 (lambda u: np.tanh(B * u)))
        if a.dynamics == "current":
            start = np.zeros(n, dtype=np.float32)
        for name, f in peers.items():
            err = float(np.abs(rates(f(start, 100)) - end).max())
            print(json.dumps({"peer": name, "operator": a.operator, "n": n,
                              "check": "max |peer - attractor| after 100 steps",
                              "value": err, "ok": err < 1e-5}), flush=True)
    for name, f in peers.items():
        f(v0, 2)  # compile / warm up
        s, k = timed(f, v0)
        print(json.dumps({"peer": name, "operator": a.operator, "n": n,
                          "patterns": p if a.operator == "hebbian" else None,
                          "dynamics": a.dynamics, "activation": a.activation,
                          "steps": k, "seconds_per_step": s}), flush=True)
