# temporary A/B driver (helper g3): W1/W2 with THREADS=2 on pinned cores; removed after use
import json, os, sys
os.cpu_count = lambda: 2
sys.argv = ["trace.py"]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trace as bench
from unified.tracer import pipeline
peer, variant = os.environ["PEER"], os.environ.get("VARIANT", "new")
if variant == "old":
    pipeline.fuse_linear = None
    orig = pipeline.passes
    pipeline.passes = lambda: [p for p in orig() if p is not None and p.__name__ != "unified.tracer.passes.fuse_linear"]
print(peer, variant, json.dumps(bench.run_small(bench.ADAPTERS[peer]())))
