"""Stage 1, raw BIDS: read a BIDS tree, download a pinned OpenNeuro release, or simulate one.

- :mod:`fmri_bench.raw.bids`: find runs, events, sidecars and ROI masks in a BIDS tree.
- :mod:`fmri_bench.raw.openneuro`: datalad clone of a pinned release, then ``get`` of only
  the files a preparation needs.
- :mod:`fmri_bench.raw.simulate`: the embedded synthetic dataset (ds001506 layout) and its
  ground truth.

This stage reads only recipes (stage 0) and writes only raw BIDS folders.
"""
