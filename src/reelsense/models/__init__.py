"""models layer of reelsense."""
