"""ladder: start with a prompt, measure on your own examples, climb only as far as the numbers say."""
__version__ = "0.1.0"
