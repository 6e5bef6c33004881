"""Prefetchers: speculate on future reads; the engine performs and accounts for the moves."""
