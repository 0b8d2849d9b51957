"""unified.datasets: small data sets embedded in the package, for examples and tests (no
download). digits.py: scikit-learn's 8x8 handwritten digits. This module only re-exports."""

from unified.datasets.digits import digits, digits_split

__all__ = ["digits", "digits_split"]
