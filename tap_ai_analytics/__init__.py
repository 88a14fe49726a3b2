"""Singer tap for AI coding-assistant usage analytics (Augment Code, Sourcegraph)."""
