"""ReturnlyClient against the Returnly sandbox, over real HTTP on 127.0.0.1."""
