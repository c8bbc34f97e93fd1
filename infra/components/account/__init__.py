"""The account layer: what every environment of one AWS account stands on (bootstrap/)."""
