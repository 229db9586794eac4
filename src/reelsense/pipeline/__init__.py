"""pipeline layer of reelsense."""
