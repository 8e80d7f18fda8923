"""The one verdict function, its ordered outcomes, and references to judge against."""
