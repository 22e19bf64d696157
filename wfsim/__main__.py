"""``python -m wfsim``: the same as the ``wfsim`` command."""

from wfsim._cli import console_main

if __name__ == "__main__":
    console_main()
