"""The wfsim engine. Imports nothing from the layers above it (CLI, plugin, loader)."""
