"""``python -m jaxopt_lessons``: the ``jaxopt-lessons`` command line (see :mod:`jaxopt_lessons.cli`)."""

from .cli import main

raise SystemExit(main())
