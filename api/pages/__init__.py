"""The page routes: thin, each hands what it read to a renderer of the web room."""
