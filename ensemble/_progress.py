"""Progress of a run: a tqdm bar on a terminal, one plain line per chunk elsewhere."""

from __future__ import annotations

import sys
import time

def progress_bar(total: int, n_members: int, initial: int = 0):
    """A tqdm bar on a terminal; one plain line per chunk otherwise (logs, CI, files). Both show
    member-iterations/s and the time left from the chunks after the first (whose time includes
    compilation)."""
    if not getattr(sys.stderr, "isatty", lambda: False)():
        return PlainProgress(total, n_members, initial)
    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=initial, unit="it", desc=f"evolve {n_members} members", dynamic_ncols=True,
               bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]")
    return TqdmProgress(bar, Rate(total, n_members, initial))


class Rate:
    """Member-iterations/s and time left, from run time only: the first chunk (compilation
    included) starts the clock."""

    def __init__(self, total: int, n_members: int, initial: int = 0):
        self.total, self.B, self.done = int(total), int(n_members), int(initial)
        self.t0, self.t_first, self.done_first = time.perf_counter(), None, int(initial)

    def update(self, n: int) -> str:
        self.done += int(n)
        now = time.perf_counter()
        if self.t_first is None:
            rate = (self.done - self.done_first) / max(now - self.t0, 1e-9)  # compilation included
            self.t_first, self.done_first = now, self.done
            left = "compiled" if self.done < self.total else "done"
        else:
            rate = (self.done - self.done_first) / max(now - self.t_first, 1e-9)
            left = f"time left {max(self.total - self.done, 0) / rate:.0f} s" if rate > 0 else ""
        return f"{rate * self.B:.3g} member-it/s, {left}"


class TqdmProgress:
    def __init__(self, bar, rate: Rate):
        self.bar, self.rate = bar, rate

    def update(self, n: int) -> None:
        self.bar.set_postfix_str(self.rate.update(n), refresh=False)
        self.bar.update(n)

    def close(self) -> None:
        self.bar.close()


class PlainProgress:
    """Progress as one line per chunk on stderr, no carriage returns."""

    def __init__(self, total: int, n_members: int, initial: int = 0):
        self.rate = Rate(total, n_members, initial)

    def update(self, n: int) -> None:
        text = self.rate.update(n)
        print(f"evolve {self.rate.B} members: {self.rate.done}/{self.rate.total} iterations, {text}",
              file=sys.stderr, flush=True)

    def close(self) -> None:
        pass
