# Inputs to test_loader.py: loaded and schema-checked there, not collected as scenarios.
collect_ignore_glob = ["*.wfsim.yaml"]
