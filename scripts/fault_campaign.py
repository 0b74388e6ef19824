"""Fault campaign for the nightly job: what holds when runs are killed, the disk
fills up, or two runs start at once.

    python scripts/fault_campaign.py [--kills 8] [--seed 1] [--work DIR] [--model NAME]

It runs the real CLI (``python -m clusterer update``, the default model unless
``--model``) over the three nights of the hostile corpus (tests/data/hostile),
and checks the state against a reference made by uninterrupted runs:

1. **SIGKILL at random points.** Each night, ``--kills`` runs are killed after
   a random delay: half within the night's cold run (model loading,
   embedding; the campaign's embeddings cache starts cold), half within its
   warm run (reading, alignment, placing, writing). Then two runs are killed
   the moment their commit has begun (the rollback journal appears). After each
   kill: SQLite's integrity check, and the state must equal the state before
   the night, or the reference state after it (a run that ends before its kill
   must give the reference; the night then starts again from the state before
   it). Then the night is run to its end and must give the reference state.
2. **A full disk** (where ``unshare -rm`` can mount a private tmpfs): the state
   of night 2 on a 1 MiB tmpfs filled to the last 16 KiB; night 3 must fail with
   one line and exit 1, leaving the state as it was; with space freed it must
   give the reference.
3. **Concurrent runs**: three updates of night 3 started together on one state
   (one through a symlink) and a batch run sharing the embeddings cache: one
   update runs, the others exit 75 at once, the batch run succeeds, and the state
   equals the reference.

It prints each trial and what held, and exits 1 if anything did not.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
from hostile_nights import NIGHTS, corpus_for  # noqa: E402
from state_checks import fingerprint, integrity  # noqa: E402


class Campaign:
    def __init__(self, work: Path, kills: int, seed: int, model: str | None):
        self.work, self.kills, self.model = work, kills, model
        self.rng = random.Random(seed)
        self.failures: list = []
        self.tally = {"kills": 0, "in_commit": 0, "held": 0, "finished_first": 0}

    def command(self, night: int, state: Path, cache: Path, *extra: str) -> list:
        cmd = [
            sys.executable,
            "-m",
            "clusterer",
            "update",
            str(self.corpus[night]),
            "--state",
            str(state),
            "--cache-dir",
            str(cache),
            "-q",
            *extra,
        ]
        return cmd + (["--model", self.model] if self.model else [])

    def run(self, night: int, state: Path, cache: Path) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(night, state, cache), capture_output=True, text=True, cwd=REPO)

    def check(self, what: str, ok: bool, detail: str = "") -> bool:
        print(f"  {'held' if ok else 'FAILED'}: {what}{' - ' + detail if detail else ''}", flush=True)
        if not ok:
            self.failures.append(f"{what} {detail}")
        return ok

    # -- 0. the reference -------------------------------------------------------
    def reference(self) -> None:
        self.corpus = {n: corpus_for(n, self.work / "corpus") for n in range(1, NIGHTS + 1)}
        state, cache = self.work / "reference.sqlite", self.work / "cache-reference"
        from clusterer.nightly.state import State

        with State(self.work / "empty.sqlite"):  # what a run killed on the first night may leave
            pass
        self.empty = fingerprint(self.work / "empty.sqlite")
        self.ref, self.seconds, self.warm = {0: {}}, {}, {}
        print("reference: uninterrupted runs, cold cache", flush=True)
        for night in range(1, NIGHTS + 1):
            started = time.perf_counter()
            done = self.run(night, state, cache)
            self.seconds[night] = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"the reference run of night {night} failed: {done.stderr.strip()}")
            self.ref[night] = fingerprint(state)
            shutil.copy(state, self.work / f"reference-night{night}.sqlite")
        for night in range(1, NIGHTS + 1):  # the same night again, warm: what a kill can land in
            self.restore(night, self.work / "warm.sqlite")
            started = time.perf_counter()
            self.run(night, self.work / "warm.sqlite", cache)
            self.warm[night] = time.perf_counter() - started
            print(f"  night {night}: {self.seconds[night]:.1f} s cold, {self.warm[night]:.1f} s warm", flush=True)

    def restore(self, night: int, state: Path) -> None:
        """Put ``state`` back as it stood before ``night`` (the reference's)."""
        state.unlink(missing_ok=True)
        if night > 1:
            shutil.copy(self.work / f"reference-night{night - 1}.sqlite", state)

    # -- 1. SIGKILL -------------------------------------------------------------
    def kill_campaign(self) -> None:
        state, cache = self.work / "killed.sqlite", self.work / "cache-killed"
        journal = Path(str(state) + "-journal")
        print(
            f"SIGKILL: {self.kills} kills a night at random times (half within a cold run, half within "
            "a warm one), then two the moment the commit begins",
            flush=True,
        )
        for night in range(1, NIGHTS + 1):
            finished = False
            # the first half within a cold run (model loading, embedding), the rest within a warm
            # one (reading, alignment, placing, writing: by then the cache holds the night)
            half = self.kills // 2
            plan = [
                ("random", self.rng.uniform(0.0, self.seconds[night] if k < half else self.warm[night]))
                for k in range(self.kills)
            ]
            for mode, delay in plan + [("commit", 0.0)] * 2:
                if finished:  # a run came to its end: the next kill starts the night again
                    self.restore(night, state)
                    finished = False
                stale = _stat(journal)  # a journal an earlier kill left behind (rolled back, not hot)
                proc = subprocess.Popen(
                    self.command(night, state, cache), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO
                )
                started = time.perf_counter()
                if mode == "random":
                    while proc.poll() is None and time.perf_counter() - started < delay:
                        time.sleep(0.005)
                else:
                    while proc.poll() is None and _stat(journal) in (None, stale):
                        time.sleep(0.0005)
                if proc.poll() is not None:  # it finished before the kill
                    self.tally["finished_first"] += 1
                    finished = proc.returncode == 0
                    self.check(
                        f"night {night}: a run the kill came too late for finished",
                        finished and fingerprint(state) == self.ref[night],
                    )
                    continue
                in_commit = _stat(journal) not in (None, stale)
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                self.tally["kills"] += 1
                self.tally["in_commit"] += in_commit
                at = f"{time.perf_counter() - started:.2f} s" + (", inside the commit" if in_commit else "")
                fp = fingerprint(state)
                before = (self.ref[0], self.empty) if night == 1 else (self.ref[night - 1],)
                ok = integrity(state) == "ok" and fp in before + (self.ref[night],)
                self.tally["held"] += ok
                self.check(f"night {night}: killed at {at}: state intact, before or after the night", ok)
                finished = fp == self.ref[night]  # killed after its commit
            if not finished:
                done = self.run(night, state, cache)
                self.check(
                    f"night {night}: the run after the kills gives the reference state",
                    done.returncode == 0 and fingerprint(state) == self.ref[night],
                    done.stderr.strip(),
                )

    # -- 2. a full disk ------------------------------------------------------------
    def full_disk(self) -> None:
        print("full disk: the state on a 1 MiB tmpfs, filled", flush=True)
        if (
            shutil.which("unshare") is None
            or subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode != 0
        ):
            print("  not tried: unshare -rm (user and mount namespaces) is not available here", flush=True)
            return
        disk, out = self.work / "disk", self.work / "disk-out"
        disk.mkdir()
        out.mkdir()
        script = f"""
set -u
mount -t tmpfs -o size=1m tmpfs {disk}
cp {self.work / "reference-night2.sqlite"} {disk}/state.sqlite
head -c $(( ($(df -k --output=avail {disk} | tail -1) - 16) * 1024 )) /dev/zero > {disk}/filler
{" ".join(map(_quote, self.command(3, disk / "state.sqlite", self.work / "cache-reference")))} \
  > {out}/full.out 2> {out}/full.err; echo $? > {out}/full.rc
cp {disk}/state.sqlite {out}/full.sqlite
rm {disk}/filler
{" ".join(map(_quote, self.command(3, disk / "state.sqlite", self.work / "cache-reference")))} \
  > /dev/null 2> {out}/freed.err; echo $? > {out}/freed.rc
cp {disk}/state.sqlite {out}/freed.sqlite
"""
        subprocess.run(["unshare", "-rm", "bash", "-c", script], cwd=REPO)
        rc, err = (out / "full.rc").read_text().strip(), (out / "full.err").read_text()
        self.check(
            "full disk: one error line, exit 1",
            rc == "1" and len(err.strip().splitlines()) == 1 and "no room left to write the state" in err,
            f"exit {rc}: {err.strip()[:200]}",
        )
        self.check(
            "full disk: the state as it was before the night",
            integrity(out / "full.sqlite") == "ok" and fingerprint(out / "full.sqlite") == self.ref[2],
        )
        self.check(
            "full disk: space freed, the night gives the reference state",
            (out / "freed.rc").read_text().strip() == "0" and fingerprint(out / "freed.sqlite") == self.ref[3],
        )

    # -- 3. concurrent runs -------------------------------------------------------
    def concurrent(self) -> None:
        print("concurrency: three updates at once (one through a symlink), a batch run beside them", flush=True)
        state, cache = self.work / "concurrent.sqlite", self.work / "cache-reference"
        shutil.copy(self.work / "reference-night2.sqlite", state)
        link = self.work / "link.sqlite"
        link.symlink_to(state)
        procs = [
            subprocess.Popen(
                self.command(3, path, cache), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO
            )
            for path in (state, state, link)
        ]
        batch = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "clusterer",
                str(self.corpus[3]),
                "--cache-dir",
                str(cache),
                "-q",
                "--out",
                str(self.work / "batch.json"),
            ]
            + (["--model", self.model] if self.model else []),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        codes = sorted(p.wait() for p in procs)
        batch.wait()
        self.check(
            "concurrency: one update ran, the others exited 75 (try later)", codes == [0, 75, 75], f"exit codes {codes}"
        )
        self.check(
            "concurrency: the batch run beside them succeeded", batch.returncode == 0, batch.stderr.read().strip()[:200]
        )
        self.check(
            "concurrency: the state equals the reference",
            integrity(state) == "ok" and fingerprint(state) == self.ref[3],
        )


def _stat(path: Path):
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(str(arg))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=8, help="random kills a night (default 8)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", type=Path, help="working folder (default: a new temporary one, removed after)")
    ap.add_argument("--model", help="the model to run (default: the CLI's default)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="fault-campaign-"))
    work.mkdir(parents=True, exist_ok=True)
    campaign = Campaign(work, args.kills, args.seed, args.model)
    started = time.perf_counter()
    try:
        campaign.reference()
        campaign.kill_campaign()
        campaign.full_disk()
        campaign.concurrent()
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    t = campaign.tally
    print(
        f"\n{t['kills']} SIGKILLs ({t['in_commit']} inside the commit): the state held {t['held']} times; "
        f"{t['finished_first']} runs finished before their kill; "
        f"{len(campaign.failures)} failures; {time.perf_counter() - started:.0f} s"
    )
    for failure in campaign.failures:
        print(f"FAILED: {failure}")
    return 1 if campaign.failures else 0


if __name__ == "__main__":
    sys.exit(main())
