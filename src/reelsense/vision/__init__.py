"""vision layer of reelsense."""
