"""The project under test: its manifest, profiles, generator and scenarios."""
