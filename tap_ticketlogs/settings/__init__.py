"""The settings room: shared setting declarations, validation, the environment."""
