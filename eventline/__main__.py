"""``python -m eventline``: the same as the ``eventline`` command."""

from eventline.cli import main

main()
