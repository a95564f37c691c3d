"""``python -m webhooks``: serve the webhook receiver (see :mod:`webhooks.serve`)."""

from webhooks.serve import main

if __name__ == "__main__":
    main()
