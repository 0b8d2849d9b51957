"""The one `unified` command (also `python -m unified`). Each subcommand imports what it needs
inside its handler, so `import unified` never loads this module or the exporters.

    unified inspect model.ufb      inputs/outputs, ops with counts, constants, arena, metadata
    unified inspect model.onnx     the same summary for an ONNX file
    unified build-runtime model.ufb -o rt/
                                   the edge runtime (mobile/) with only the bundle's kernels,
                                   with the sizes of the trimmed and the full runtime
    unified demo [--quick]         train, trace, export, deploy the digits model; one table
    unified bench model.ufb        a bundle's latency (min/median/max µs) from Python; --verify

Exit codes: 0 success, 1 the file is bad or the work failed (one line on stderr saying why,
never a traceback), 2 usage errors (argparse)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.handler(args)
    except (OSError, ValueError, RuntimeError) as exc:  # BundleError is a ValueError
        print(f"unified {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unified", description="unified: train, trace, "
                                     "export and deploy deep-learning models.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    inspect = sub.add_parser("inspect", help="summarise a .ufb bundle or an .onnx file",
                             description="Print a model file's inputs and outputs, ops with "
                             "counts, constants and their bytes, the planned arena and metadata.")
    inspect.add_argument("path", help="a .ufb bundle or an .onnx file")
    inspect.set_defaults(handler=_inspect)
    _add_build_runtime(sub)
    from unified import demo  # demo/__init__ holds only argparse; the work loads per subcommand

    demo.add_parser(sub)
    return parser


# ---- inspect -----------------------------------------------------------------------------------
def _inspect(args: argparse.Namespace) -> int:
    path = args.path
    with open(path, "rb") as f:
        head = f.read(4)
    if path.endswith(".onnx") or (head[:1] == b"\x08" and not head.startswith(b"UFB")):
        print(onnx_summary(path))
    else:
        from unified.export.bundle import load_bundle

        print(load_bundle(path).summary())
    return EXIT_OK


def onnx_summary(path: str) -> str:
    """The `unified inspect` text for an ONNX file (weights stay on disk: external data is
    not loaded)."""
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:  # protobuf raises its own DecodeError types
        raise ValueError(f"{path} is not a readable ONNX file ({type(exc).__name__}: {exc})")
    g = model.graph
    inits = {t.name for t in g.initializer}

    def value_line(v) -> str:
        t = v.type.tensor_type
        dims = [d.dim_param or str(d.dim_value) for d in t.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name if t.elem_type else "?"
        return f"  {v.name}: {dtype}[{', '.join(dims)}]"

    lines = [f"ONNX model {path}",
             f"producer: {model.producer_name} {model.producer_version}; ir_version "
             f"{model.ir_version}; opsets: " + ", ".join(
                 f"{o.domain or 'ai.onnx'} {o.version}" for o in model.opset_import),
             "inputs:"]
    lines += [value_line(v) for v in g.input if v.name not in inits]
    lines += ["outputs:"] + [value_line(v) for v in g.output]
    counts = Counter(n.op_type for n in g.node)
    lines.append(f"ops ({len(g.node)} nodes):")
    lines += [f"  {op:<24} x{n}" for op, n in counts.most_common()]
    total = 0
    for t in g.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            total += int(next((e.value for e in t.external_data if e.key == "length"), 0))
        else:
            total += numpy_helper.to_array(t).nbytes
    lines.append(f"constants: {len(g.initializer)} tensors, {total:,} bytes")
    if model.metadata_props:
        lines.append("metadata:")
        lines += [f"  {p.key}: {p.value}" for p in model.metadata_props]
    return "\n".join(lines)


# ---- build-runtime -----------------------------------------------------------------------------
def _add_build_runtime(sub) -> None:
    p = sub.add_parser("build-runtime", help="build the C++ edge runtime for a .ufb bundle",
                       description="Generate the registration of exactly the bundle's kernels, "
                       "build the standalone runtime (library, C API header, unified-run) with "
                       "CMake, and print the sizes of the trimmed and the full runtime.")
    p.add_argument("bundle", help="a .ufb bundle (export.save_bundle)")
    p.add_argument("-o", "--out", required=True, help="output folder (its build/ subfolder is "
                   "kept, so a second build is incremental)")
    p.add_argument("--full", action="store_true", help="every kernel, not only the bundle's")
    p.add_argument("--target", choices=("host", "aarch64"), default="host",
                   help="aarch64: cross-compile with g++-aarch64-linux-gnu")
    p.add_argument("--opt", choices=("size", "speed"), default="size",
                   help="size: -Os, LTO, no exceptions (default); speed: -O2")
    p.add_argument("--native", action="store_true", help="-march=native (host only)")
    p.add_argument("--compact-gemm", action="store_true",
                   help="size build: plain-loop matrix product instead of Eigen's (about 39 KB "
                        "smaller; sums may differ from training's in the last bits)")
    p.add_argument("--no-threads", action="store_true", help="no OpenMP kernel threads")
    p.add_argument("--sanitize", action="store_true",
                   help="AddressSanitizer + UndefinedBehaviorSanitizer (and fuzz_bundle with "
                   "clang)")
    p.add_argument("-j", "--jobs", type=int, default=None, help="parallel compile jobs")
    p.set_defaults(handler=_build_runtime)


def _build_runtime(args: argparse.Namespace) -> int:
    from unified.mobile import build_runtime

    rt = build_runtime(args.bundle, args.out, trimmed=not args.full, target=args.target,
                       sanitize=args.sanitize, opt=args.opt, native=args.native,
                       threads=not args.no_threads, compact_gemm=args.compact_gemm,
                       jobs=args.jobs)
    print(rt.summary())
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
