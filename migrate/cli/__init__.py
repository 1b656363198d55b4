"""The command line: thin commands that parse options, call a stage and render its result."""
