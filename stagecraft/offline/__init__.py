"""Run the real program offline: stack files, mock cloud, recorded plan."""
