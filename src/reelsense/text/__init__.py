"""text layer of reelsense."""
