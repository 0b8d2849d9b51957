"""unified.tracer: `trace` turns a function or a Module into a recorded static graph that is
replayed on later calls (trace.py); the IR is in graph.py, recording in record.py, value-read
guards in guards.py, the reference runner in interpret.py and transformations in passes/."""

from unified.tracer.guards import RetraceWarning, TraceWarning
from unified.tracer.trace import Traced, trace

from unified.errors import TraceError

__all__ = ["RetraceWarning", "TraceError", "TraceWarning", "Traced", "trace"]
