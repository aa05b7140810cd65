"""Step scripts. Each runs alone inside its SageMaker container and imports nothing from here."""
