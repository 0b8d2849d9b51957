"""unified.debug: eager tools that stop at the cause. detect_anomaly() (anomaly.py) raises at
the first op whose output holds NaN/Inf, naming the op, module and line; summary() (summary.py)
tabulates a model's modules; check_grad() (gradcheck.py) compares gradients with finite
differences. Module and tensor hooks live on nn.Module (nn/module.py) and Tensor. Loaded on
first use of `unified.debug`."""

from unified.debug.anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from unified.debug.gradcheck import GradcheckError, check_grad
from unified.debug.summary import Summary, SummaryRow, summary
from unified.errors import AnomalyError

__all__ = ["AnomalyError", "GradcheckError", "Summary", "SummaryRow", "check_grad",
           "detect_anomaly", "is_anomaly_enabled", "set_detect_anomaly", "summary"]
