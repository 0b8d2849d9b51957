"""Run every benchmark in benchmarks/ (each `python benchmarks/<name>.py` prints its own table)
one after another and collect their output into one Markdown file (benchmarks/RESULTS.md by
default): the machine it ran on, then per benchmark the command that reproduces it, its tables
and its notes. A benchmark that fails or times out shows its last error line instead; the
others still run.

    python benchmarks/run_all.py [--out FILE] [--only trace export ...] [--timeout SECONDS]

Steps:
 1. Find the scripts: every benchmarks/*.py except this one and the _private helpers, sorted.
 2. Run each in its own process (the repository root on PYTHONPATH, as _harness.run_peer does).
 3. Turn its stdout into Markdown: `a | b` rows (print_table) become table rows, the `-|-` rule
    the header separator, `# ` comment lines plain text.
 4. Write the file atomically enough for a report (a temp file, then rename)."""

from __future__ import annotations

import argparse
import datetime
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from _harness import header  # noqa: E402

_RULE = re.compile(r"^-+(\|-+)*$")  # print_table's separator: ----|-----|---


def scripts(only: list[str] | None = None) -> list[str]:
    """The benchmark scripts' names (without .py), sorted; `only` keeps those named."""
    names = sorted(f[:-3] for f in os.listdir(HERE) if f.endswith(".py") and not
                   f.startswith("_") and f != os.path.basename(__file__))
    if only:
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise SystemExit(f"run_all: no benchmark named {', '.join(unknown)} "
                             f"(have: {', '.join(names)})")
        names = [n for n in names if n in only]
    return names


def run_one(name: str, timeout: float) -> tuple[str | None, str, float]:
    """(stdout or None on failure, the error line, seconds) of `python benchmarks/<name>.py`."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, os.path.join(HERE, f"{name}.py")],
                              capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s", time.perf_counter() - start
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return None, f"exit {proc.returncode}: {lines[-1] if lines else 'no output'}", seconds
    return proc.stdout, "", seconds


def to_markdown(stdout: str) -> list[str]:
    """Step 3: print_table rows -> Markdown rows; `# ` lines -> text."""
    out: list[str] = []
    in_table = False
    for line in stdout.splitlines():
        stripped = line.strip()
        if _RULE.match(stripped) and in_table:
            out.append("|" + "---|" * (stripped.count("|") + 1))
        elif " | " in line:
            if not in_table:
                out.append("")
            out.append("| " + " | ".join(c.strip() for c in line.split(" | ")) + " |")
            in_table = True
        elif stripped:
            if in_table:
                out.append("")
            in_table = False
            out.append(stripped[2:] + "  " if stripped.startswith("# ") else stripped + "  ")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    parser.add_argument("--only", nargs="+", help="benchmark names (e.g. trace export)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per benchmark")
    args = parser.parse_args()
    names = scripts(args.only)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# unified benchmarks", "", f"Measured {stamp} by `python benchmarks/run_all.py`.",
             "", "```", header("machine").split("\n", 1)[1], "```"]
    for name in names:
        print(f"run_all: {name} ...", file=sys.stderr, flush=True)
        stdout, error, seconds = run_one(name, args.timeout)
        lines += ["", f"## {name}", "", f"`python benchmarks/{name}.py` ({seconds:.0f} s)", ""]
        lines += to_markdown(stdout) if stdout is not None else [f"**failed**: {error}"]
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, args.out)
    print(f"run_all: wrote {args.out} ({len(names)} benchmarks)", file=sys.stderr)


if __name__ == "__main__":
    main()
