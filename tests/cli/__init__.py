"""Tests of the command line (a package, so that module names such as test_live stay unique)."""
