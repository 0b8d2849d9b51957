"""F.linear forward+backward on (64,256)x(256,256): median us per call."""
import os, sys, time
import numpy as np
import unified as U
import unified.functional as F
NT = int(os.environ.get("NT", os.cpu_count())); U.set_num_threads(NT)
rng = np.random.default_rng(0)
x = U.tensor(rng.standard_normal((64, 256)).astype(np.float32), requires_grad=True)
w = U.tensor(rng.standard_normal((256, 256)).astype(np.float32), requires_grad=True)
b = U.tensor(rng.standard_normal((256,)).astype(np.float32), requires_grad=True)
def fwd(): return F.linear(x, w, b)
def fb():
    x.grad = w.grad = b.grad = None
    F.linear(x, w, b).sum().backward()
def med(fn, n=300, reps=7):
    for _ in range(20): fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(n): fn()
        ts.append((time.perf_counter() - t) / n * 1e6)
    return sorted(ts)[reps // 2]
with U.no_grad():
    print(f"forward (no grad)      {med(fwd):8.1f} us")
print(f"forward (grad)         {med(fwd):8.1f} us")
print(f"forward+backward       {med(fb):8.1f} us")
try:
    import torch
    torch.set_num_threads(NT)
    tx = torch.tensor(x.detach().numpy(), requires_grad=True); tw = torch.tensor(w.detach().numpy(), requires_grad=True); tb = torch.tensor(b.detach().numpy(), requires_grad=True)
    def tfb():
        tx.grad = tw.grad = tb.grad = None
        torch.nn.functional.linear(tx, tw, tb).sum().backward()
    print(f"torch forward+backward {med(tfb):8.1f} us")
except ImportError:
    pass
