"""The standard report the GA4 download tests ask the fakes for, and a retry
policy fast enough for tests (shared by the REST and gRPC download tests)."""

from project.ga4.client import RetryPolicy
from project.tests.ga4_fake import synthetic_row_count

FAST = RetryPolicy(initial=0.01, maximum=0.05, multiplier=2.0, deadline=10.0, timeout=5.0)
DIMS = ["date", "country"]
METS = ["sessions", "purchaseRevenue", "bounceRate"]
START, END = "2024-01-01", "2024-01-20"  # 20 days x 3 countries = 60 rows
N_ROWS = synthetic_row_count(DIMS, START, END)
