"""HTTP clients for the external systems. No Prefect imports here."""
