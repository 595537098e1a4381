"""The parts of :mod:`jaxopt_lessons.cli`: :mod:`.args` (the parser and every check made
before any work, without JAX) and :mod:`.output` (what ``sweep`` prints)."""
