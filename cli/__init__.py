"""The ``custody`` command line: parses options, calls the library, renders results."""
