"""The Flask layer: blueprints, forms and CLI groups."""
