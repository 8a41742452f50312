"""Tests of the ephys domain."""
