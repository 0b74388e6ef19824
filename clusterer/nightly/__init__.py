"""The nightly job on a growing corpus: the stored state (``state``), placing
tonight's items against it (``placement``), the change report (``changes``),
the state as a result (``snapshot``), and the job that runs a night (``job``)."""

from .job import Nightly

__all__ = ["Nightly"]
