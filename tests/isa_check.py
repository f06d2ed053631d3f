"""The invariance guarantees in one small process, for tests/test_isa.py to run under each CPU ISA.

Usage: ``XLA_FLAGS="--xla_cpu_max_isa=AVX2 --xla_force_host_platform_device_count=4" python
tests/isa_check.py`` prints one JSON object ``{check: true/false}`` and exits 1 if any is false.
Each check is a bitwise comparison of a member's numbers computed two ways (the full set, with
larger sizes, is ``pytest -m invariance``).
"""

import dataclasses
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np

import ensemble
from ensemble import driver, evolve, feedforward as ff, kuramoto as ku, layout, learning, patterns


def same(a, b) -> bool:
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(la) == len(lb) and all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(la, lb))


def main() -> dict:
    out = {}
    X, Y = patterns.vowels()
    B = 13
    net = jax.vmap(lambda k: ff.init(k, 35, 6, 5))(driver.member_keys(jax.random.key(1), np.arange(B)))
    tau = np.linspace(0.05, 0.5, B)  # a grid: every member its own tau
    hyper = learning.DiscreteHyper(tau, 0.3, 2)
    common = dict(key=jax.random.key(2), n_iterations=12, record_every=3)
    task, lmap = ff.Task(X, Y), learning.discrete(2)
    full = evolve(task, lmap, net, hyper, placement=ensemble.Placement(devices=1), **common)
    k = 11
    alone = evolve(task, lmap, jax.tree_util.tree_map(lambda x: x[k : k + 1], net),
                   learning.DiscreteHyper(tau[k : k + 1], 0.3, 2), placement=ensemble.Placement(members=[k]), **common)
    out["network: member alone == member of a grid of 13"] = same(alone.traces["E"][:, 0], full.traces["E"][:, k]) and same(
        jax.tree_util.tree_map(lambda x: x[k], alone.params), jax.tree_util.tree_map(lambda x: x[k], full.params))
    chunked = evolve(task, lmap, net, hyper, placement=ensemble.Placement(devices=1), chunks=ensemble.Chunks(size=6), **common)
    out["network: chunks of 6 == one chunk"] = same(chunked.traces, full.traces) and same(chunked.params, full.params)
    n_dev = len(jax.local_devices())
    if n_dev > 1:
        B4 = 4 * (n_dev // 4 or 1)
        sub = jax.tree_util.tree_map(lambda x: x[:B4], net)
        h4 = learning.DiscreteHyper(tau[:B4], 0.3, 2)
        one = evolve(task, lmap, sub, h4, placement=ensemble.Placement(devices=1), **common)
        many = evolve(task, lmap, sub, h4, placement=ensemble.Placement(devices=min(4, n_dev)), **common)
        out[f"network: {min(4, n_dev)} devices == 1 device"] = same(one.traces, many.traces) and same(one.params, many.params)
    grouped = evolve(task, lmap, net, hyper, placement=ensemble.Placement(devices=1, member_batch=5), **common)
    out["network: member groups of 5 == one group"] = same(grouped.traces, full.traces) and same(grouped.params, full.params)

    N = 7
    system = ku.Oscillators(ku.default_omega(N), dt=0.05, T=0.5, R0=0.7, error="absolute")
    rng = np.random.default_rng(0)
    Bk = 2 * ku.WINDOW_BLOCK + 3
    w = jnp.asarray(rng.uniform(-0.5, 1.5, (Bk, ku.n_pairs(N))), jnp.float32)
    ph = jnp.asarray(rng.uniform(0, 2 * np.pi, (Bk, N)), jnp.float32)
    keys = jax.random.split(jax.random.key(0), Bk)
    ens = jax.jit(system.measure_ensemble)({"w": w}, ph, keys)
    vm = jax.jit(jax.vmap(system.measure))({"w": w[:65]}, ph[:65], keys[:65])
    one = jax.jit(system.measure)
    ok = same(jax.tree_util.tree_map(lambda x: x[:65], ens), vm)
    for i in (0, 64, 300, Bk - 1):
        ok = ok and same(one({"w": w[i]}, ph[i], keys[i]), jax.tree_util.tree_map(lambda x: x[i], ens))
    out["kuramoto window: member alone == vmap(measure) == member of 515"] = bool(ok)

    N12, B12 = 12, 131  # the CPU layout's block at N = 12 is 64 members (issue 27); 131 pad to 192
    s12 = ku.Oscillators(ku.default_omega(N12), dt=0.05, T=0.5, R0=0.7)
    args12 = ({"w": jnp.asarray(rng.uniform(-0.5, 1.5, (B12, ku.n_pairs(N12))), jnp.float32)},
              jnp.asarray(rng.uniform(0, 2 * np.pi, (B12, N12)), jnp.float32), jax.random.split(jax.random.key(0), B12))
    by_block = []
    for lay in (layout.CPU, dataclasses.replace(layout.CPU, window_block=128), dataclasses.replace(layout.CPU, window_block=256),
                layout.ACCELERATOR):
        with layout.use(lay):
            by_block.append(jax.jit(s12.measure_ensemble)(*args12))
    out["kuramoto window N = 12: blocks of 64, 128, 256 == one window"] = all(same(by_block[0], b) for b in by_block[1:])

    N40, B40 = 40, 67  # sums in compiled loops; the CPU layout's block is 32; 67 pad to 128 (unpadded in blocks of 1)
    s40 = ku.Oscillators(ku.default_omega(N40), dt=0.05, T=0.5, R0=0.7)
    w40 = jnp.asarray(rng.uniform(-0.5, 1.5, (B40, ku.n_pairs(N40))), jnp.float32)
    ph40 = jnp.asarray(rng.uniform(0, 2 * np.pi, (B40, N40)), jnp.float32)
    args40 = ({"w": w40}, ph40, jax.random.split(jax.random.key(0), B40))
    by_block = []
    for lay in [layout.CPU, layout.ACCELERATOR] + [dataclasses.replace(layout.CPU, window_block=b) for b in (1, 16, 64)]:
        with layout.use(lay):
            by_block.append(jax.jit(s40.measure_ensemble)(*args40))
    ok = all(same(by_block[0], b) for b in by_block[1:])
    for i in (0, 33, B40 - 1):
        ok = ok and same(jax.jit(s40.measure)({"w": w40[i]}, ph40[i], args40[2][i]),
                         jax.tree_util.tree_map(lambda x: x[i], by_block[0]))
    out["kuramoto window N = 40 (loops): blocks of 1, 16, 32, 64 == one window == member alone"] = bool(ok)

    cs = ku.ContinuousOscillators(rng.uniform(-1, 1, 5), dt=0.05, T=0.4, R0=0.7)
    n = cs.n_steps
    cmap = ku.continuous_weight_control(n)
    chyper = ku.ControlledHyper(learning.ContinuousHyper(0.3, 0.3, 0.05, n), 0.4, 0.6)
    cw = jnp.asarray(rng.uniform(-1, 1, (B, 10)), jnp.float32)
    ccommon = dict(key=jax.random.key(3), n_iterations=20, record_every=4)
    cfull = evolve(cs, cmap, {"w": cw}, chyper, placement=ensemble.Placement(devices=1), **ccommon)
    calone = evolve(cs, cmap, {"w": cw[k : k + 1]}, chyper, placement=ensemble.Placement(members=[k]), **ccommon)
    out["continuous kuramoto: member alone == member of 13"] = same(calone.traces["E"][:, 0], cfull.traces["E"][:, k])

    # A user's system whose measure reduces (a mean log-loss over 200 points): the member blocks.

    X2 = jnp.asarray(rng.normal(size=(200, 10)), jnp.float32)
    y2 = jnp.asarray(rng.integers(0, 2, 200), jnp.float32)

    def logistic(p):
        z = X2 @ p["w"] + p["b"]
        return jnp.mean(jnp.logaddexp(0.0, z) - y2 * z)

    user = ensemble.from_loss(logistic)
    start = {"w": jnp.zeros(10, jnp.float32), "b": jnp.zeros((), jnp.float32)}
    uh = learning.DiscreteHyper(np.float32(30.0), np.float32(0.01), 1)
    ucommon = dict(key=jax.random.key(4), n_iterations=12, record_every=3)
    ualone = evolve(user, learning.discrete(1), ensemble.replicate(start, 1), uh, placement=ensemble.Placement(members=[k]),
                    **ucommon)
    ok = True
    for d in sorted({1, min(4, n_dev)}):
        ufull = evolve(user, learning.discrete(1), ensemble.replicate(start, 40), uh, placement=ensemble.Placement(devices=d),
                       **ucommon)
        ok = ok and same(ualone.traces["E"][:, 0], ufull.traces["E"][:, k]) and same(
            jax.tree_util.tree_map(lambda x: x[0], ualone.params), jax.tree_util.tree_map(lambda x: x[k], ufull.params))
    out["user loss with a mean: member alone == member of 40 (1 and 4 devices)"] = bool(ok)
    return out


if __name__ == "__main__":
    result = main()
    print(json.dumps(result))
    sys.exit(0 if all(result.values()) else 1)
