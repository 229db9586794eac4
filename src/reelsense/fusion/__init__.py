"""fusion layer of reelsense."""
