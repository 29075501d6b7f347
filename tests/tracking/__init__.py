"""Tests of the pure tracking pipeline."""
