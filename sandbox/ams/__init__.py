"""Local emulator of the MasonHub AMS API (RMAs, callbacks, DataFactory)."""
