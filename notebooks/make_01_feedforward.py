"""Generate notebooks/01_feedforward.ipynb (run from the repository root: python notebooks/make_01_feedforward.py)."""
import nbformat as nbf
nb = nbf.v4.new_notebook()
md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell
nb.cells = [
md("""# Autonomous learning of feed-forward networks (Bilen & Kaluza, Figs. 1-4)

A network measures its error `E` after each processing interval (all patterns presented with fixed
weights) and its weights move by the delayed-feedback map of eq. (4),

    w(n+1) = w(n) - (1/tau) [E(n) - E(n-m)] [w(n) - w(n-m)] + S E(n) xi(n),

no gradients involved. Every study below is one batched call of `ensemble.evolve`: an ensemble of
networks (and, for Fig. 3, a whole `(tau, S)` grid of ensembles) advanced by one compiled program.

The paper's equations and numbers were lost; what we use is a reconstruction (the
documentation's pages *The reconstruction* and *Evidence: feed-forward*, `docs/paper/`). `SIZE = "quick"` runs everything in a few
minutes on a laptop CPU (this is what CI executes); `SIZE = "full"` uses the studies' full defaults
(long on a CPU, minutes on a GPU)."""),
code("""import os

import ensemble
from ensemble import patterns
from ensemble.studies import fig1, fig2a, fig2b, fig3, fig4

ensemble.cpu.use_cores()  # one XLA CPU device per core, before any computation (CPU only)

SIZE = os.environ.get("ENSEMBLE_NOTEBOOK_SIZE", "quick")  # "quick" or "full"


def config(module, **ci_overrides):
    \"\"\"The study's full config, or its quick one (smaller still under CI).\"\"\"
    if SIZE == "full":
        return module.Config()
    return module.Config.quick(**(ci_overrides if os.environ.get("CI") else {}))"""),
md("""## Fig. 1: the patterns and the network

Fifteen 5x7 bitmaps (black pixel = 1): the vowels (task A, P = 5) and the digits (task B adds
them, P = 15). The network has one input per pixel (N1 = 35), N2 = 10 hidden and N3 = P output
nodes, every hidden and output node with a threshold weight."""),
code("""print(patterns.render("A"))
result = fig1.run(fig1.Config())
fig1.plot(result);"""),
md("""## Fig. 2a: autonomous learning vs back-propagation

Both start from the same initial weights. The shaded band is the 10-90% range over the ensemble.
The paper's claim: the error falls to a small value, and back-propagation gets there much faster."""),
code("""r2a = fig2a.run(config(fig2a, members=16, n_iterations=10_000, record_every=200, backprop_iterations=1_000))
print(fig2a.describe(r2a))
fig2a.plot(r2a);"""),
md("""## Fig. 3: where in the (tau, S) plane learning works

Mean final error over an ensemble at each grid point; the whole grid is one batched call per task.
Too small a `tau` makes the drift amplify each step (|dE|/tau > 1) and the weights saturate; too
large a `tau` (or too large an `S`) lets the noise random-walk the weights into saturation. The
paper's claim: an interior minimum, at nearly the same place for P = 5 and P = 15."""),
code("""r3 = fig3.run(config(fig3, n_iterations=1_000, record_every=500))
print(fig3.describe(r3))
fig3.plot(r3);"""),
md("""## Fig. 2b: functionality and robustness together (eq. 8)

With eq. (8) the weights also follow the robustness `R`, the fraction of single hidden-node
deletions after which the network still has `E < eps`. While `E` is far above `eps` every
deletion fails and `R = 0`, so only functionality is learned; once `E` nears `eps`, robustness
learning switches on by itself."""),
code("""r2b = fig2b.run(config(fig2b, members=2, n_iterations=10_000))
print(fig2b.describe(r2b))
fig2b.plot(r2b);"""),
md("""## Fig. 4: a robust ensemble against a testing ensemble

`eps` is chosen, as in the paper, so that an ensemble trained on `E` alone has mean robustness
0.5; an ensemble trained from the same initial weights with eq. (8) and that `eps` is then
compared: its damaged networks should sit more often below `eps`."""),
code("""r4 = fig4.run(config(fig4, members=8, n_iterations=4_000))
print(fig4.describe(r4))
fig4.plot(r4);"""),
md("""## How does autonomous learning compare? (study `compare`)

The paper makes no comparison with other optimizers. `compare` runs eq. (4) against evolution
strategies (OpenAI-ES, SNES, CMA-ES from evosax, the `[compare]` extra), a (1+1)-ES and
back-propagation on the same tasks, from the same initial weights, at the same budget of system
evaluations (one evaluation = one processing interval that yields one `E`), each method at the
best point of its own sweep. Here only the vowels, a few methods and a small budget; the full
study (`make figures`) adds vowels and digits, the Kuramoto network and Rosenbrock, and its
table is on the documentation's page *Comparison with ES and back-propagation*."""),
code("""from ensemble.studies import compare

small = dict(tasks=("vowels",), methods=("al", "snes", "one_plus_one", "backprop"))
if os.environ.get("CI"):  # a smoke test: two methods, two runs
    small.update(runs=2, records=2, network_budget=440, methods=("al", "backprop"))
rc = compare.run(compare.Config.quick(**small))
print(compare.describe(rc))
compare.plot(rc);"""),
md("""## Where this stands

At these sizes the qualitative claims of Figs. 2a, 2b and 3 show; how far the reconstructed
equations get towards the paper's numbers (all vowels classified by most members, a clearly
higher robustness in Fig. 4) is the calibration evidence on the documentation's page *Evidence: feed-forward*.
Every run can be made reproducible and resumable from the command line:
`python -m ensemble reproduce fig3 --out results --chunk 2000 --resume`."""),
]
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nb.metadata["language_info"] = {"name": "python"}
nbf.write(nb, "notebooks/01_feedforward.ipynb")
