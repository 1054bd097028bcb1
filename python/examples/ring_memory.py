"""Short-term memory in a ring network: a brief bump of input at 1 rad is
held by recurrent excitation alone (lambda1 = 2.1 > 2) and fades below
criticality (lambda1 = 1.9). Pictures (with matplotlib) go to the
current folder: python python/examples/ring_memory.py"""

import attractor
from pathlib import Path

exp = attractor.Experiment.from_toml(Path(__file__).parents[2] / "examples" / "ring_memory.toml")
for lam in (2.1, 1.9):
    r = attractor.run(exp.with_overrides({"network.weights.lambda1": lam}))
    m = r.metrics
    print(f"lambda1 = {lam} on {r.backend}: angle {m['bump_theta'][-1]:.4f} rad, "
          f"amplitude {m['bump_amplitude'][-1]:.3f} at t = {r.t[-1]:.2f} s")
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        continue
    plt.figure(figsize=(6, 3))
    plt.imshow(r.rates.T, aspect="auto", origin="lower", extent=(r.t[0], r.t[-1], 0, exp.n))
    plt.xlabel("t (s)"); plt.ylabel("neuron"); plt.title(f"ring, lambda1 = {lam}")
    plt.colorbar(label="rate"); plt.tight_layout(); plt.savefig(f"ring_memory_{lam}.png")
