"""A stand-in for Triton (tests only): the judge reads its version."""
__version__ = "0.0-mock"
