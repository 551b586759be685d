"""The measured systems: proletarian on each store, its peers, and the raw-SQL floor."""
