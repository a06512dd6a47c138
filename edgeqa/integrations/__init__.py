"""edgeqa inside the frameworks people already use; each module imports its framework lazily."""
