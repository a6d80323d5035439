"""Built-in baselines of fmri-bench, installed as ``fmri_bench.baselines``.

Each public module in this folder is one baseline that registers itself by name; see
README.md in this folder for the interface and for registering an external baseline
through the ``fmri_bench.baselines`` entry-point group.
"""
