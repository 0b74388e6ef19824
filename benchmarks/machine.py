"""What every benchmark prints beside its figures: the machine they were measured on.

Speed here depends on the CPU's vector instructions (AVX-512 and AMX with native
bf16 on some of this project's machines, AVX2 only on others), so each benchmark
prints :func:`cpu_summary` with its figures; the flags are those that pick the
engines (:func:`clusterer.embed.select.cpu_signature`, of the clusterer the benchmark
imported: the caller puts its checkout on ``sys.path`` first)."""

from __future__ import annotations

import os

from clusterer.embed.select import cpu_signature


def cpu_summary() -> str:
    """The CPU's model, its logical CPUs and the vector flags that matter here."""
    sig = cpu_signature()
    return f"{sig['cpu']} ({sig['machine']}), {os.cpu_count()} CPUs, flags: {' '.join(sig['flags']) or 'none found'}"
