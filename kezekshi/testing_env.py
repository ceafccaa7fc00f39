"""Loaded by pytest before Django (``-p kezekshi.testing_env``): the test environment.

Tests run with DEBUG off, like production, so they need a secret of their own.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-0123456789abcdefghijklmnopqrstuv")
os.environ.setdefault("DEBUG", "0")
