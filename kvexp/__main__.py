"""``python -m kvexp [overrides]``: one simulated run, or a sweep with ``-m`` (see README)."""
from kvexp.app import cli

if __name__ == "__main__":
    cli()
