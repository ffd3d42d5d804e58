"""The ``nudgeloop`` command line: the local runtime, the demo and operator tools."""
