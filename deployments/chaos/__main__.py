"""``python -m deployments.chaos [options]``: the same as ``bridge chaos``."""

from cli.chaos import app

if __name__ == "__main__":
    app()
