"""Build: migrations, the generator's context, the one build recipe, the cache."""
