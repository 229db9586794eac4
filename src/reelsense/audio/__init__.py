"""audio layer of reelsense."""
