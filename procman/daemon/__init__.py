"""The supervisor daemon. Nothing here imports click, rich or the client."""
