"""Reliability drills of issue #9: `make drills` (see drills/__main__.py)."""
