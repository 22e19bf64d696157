# These files are broken on purpose: they are inputs to test_invalid.py, not scenarios.
collect_ignore_glob = ["*.wfsim.yaml"]
