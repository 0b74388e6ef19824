"""The nightly job on a growing corpus. ``job`` runs a night in steps: reading the
corpus in batches (``tonight``), comparing it with the stored state (``diff``;
``state``), giving items their stories and duplicate groups (``assign``: by
overlap after a batch run, or by ``placement``), and building what is written and
reported (``outcome``; the report's types in ``changes``). ``snapshot`` is the
state as a result."""

from .job import Nightly

__all__ = ["Nightly"]
