"""Shared helpers of the test suite: the real CLI, stub servers, pinned environments."""
