"""Statistics (the bottom of the stack): two-sample tests, effect sizes, rank AUC and multiple-testing adjustment.

Pure functions of NumPy arrays, SciPy underneath where it has the test; they know
nothing of tables, contracts or policies. Monitoring decides what counts as drift with
them; a later stage (model tests, registry gates) can use the same numbers.
"""

from typing import TYPE_CHECKING

from tabloop._lazy import exports

# imported on first use (see tabloop._lazy): SciPy is loaded only by a command that tests something
if TYPE_CHECKING:
    from tabloop.stats._adjust import holm_adjust
    from tabloop.stats._bootstrap import (
        bootstrap_counts,
        percentile_interval,
        weighted_auc,
        weighted_average_precision,
    )
    from tabloop.stats._distances import (
        NUMERIC_BINS,
        PSI_EPSILON,
        cdf_distances,
        jensen_shannon,
        psi,
        quantile_bin_counts,
    )
    from tabloop.stats._intervals import score_interval
    from tabloop.stats._paired import PairedTest, delong_test, mcnemar_test, paired_bootstrap
    from tabloop.stats._ranks import roc_auc
    from tabloop.stats._tests import EXACT_KS_MAX_ROWS, chi2_homogeneity, ks_2samp_sorted

__getattr__, __dir__ = exports(__name__, __file__)

__all__ = [
    "EXACT_KS_MAX_ROWS",
    "NUMERIC_BINS",
    "PSI_EPSILON",
    "PairedTest",
    "bootstrap_counts",
    "cdf_distances",
    "chi2_homogeneity",
    "delong_test",
    "holm_adjust",
    "jensen_shannon",
    "ks_2samp_sorted",
    "mcnemar_test",
    "paired_bootstrap",
    "percentile_interval",
    "psi",
    "quantile_bin_counts",
    "roc_auc",
    "score_interval",
    "weighted_auc",
    "weighted_average_precision",
]
