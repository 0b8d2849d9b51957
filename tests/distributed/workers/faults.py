"""Worker for tests/distributed/test_faults.py. KIND selects the failure:
raise      rank 1 raises at step 3 of a DataParallel training loop
exit       rank 1 calls sys.exit(7) at step 3
params     rank 1 builds a model with a different layer size (DataParallel's start-up check)
graph      rank 1's traced step applies one more op (the traced-graph check)
return     rank 1 returns from main (exit status 0) at step 3 of the eager loop
destroy    rank 1 calls destroy_process_group() at step 3 of a traced loop, then sleeps
alone      rank 1 ends after the loop; rank 0 works on alone for longer than the watchdog's
           grace period without collectives (not a fault: must exit 0)
"""

from __future__ import annotations

import sys
import time

import unified as U
import unified.distributed as dist
import unified.nn as nn


def main(kind: str) -> None:
    dist.init()
    rank = dist.get_rank()
    U.manual_seed(0)
    hidden = 9 if kind == "params" and rank == 1 else 8
    model = dist.DataParallel(nn.Sequential(nn.Linear(4, hidden), nn.ReLU(),
                                            nn.Linear(hidden, 2)))
    opt = U.optim.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        out = model(x)
        if kind == "graph" and rank == 1:
            out = out * 1.0
        loss = nn.functional.cross_entropy(out, y)
        loss.backward()
        opt.step()
        return loss

    run = U.trace(step) if kind in ("graph", "destroy") else step
    x, y = U.randn(6, 4), U.randint(0, 2, (6,))
    for s in range(10):
        if s == 3 and rank == 1 and kind == "raise":
            raise ValueError("injected failure at step 3")
        if s == 3 and rank == 1 and kind == "exit":
            sys.exit(7)
        if s == 3 and rank == 1 and kind == "return":
            return
        if s == 3 and rank == 1 and kind == "destroy":
            dist.destroy_process_group()
            time.sleep(60)  # still alive: the abort must stop it too
        run(x, y)
    if kind == "alone" and rank == 0:
        from unified.distributed import watchdog

        time.sleep(watchdog.GRACE_S + 2.0)
        print(f"rank 0 worked alone; ranks that left: {watchdog.peers_left()}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
