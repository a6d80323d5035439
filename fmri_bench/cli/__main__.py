"""``python -m fmri_bench.cli``: the same as the ``fmri-bench`` console script."""

from fmri_bench.cli import main

main()
