"""Price tables shipped with stagecraft (see aws-us-east-1.yaml)."""
