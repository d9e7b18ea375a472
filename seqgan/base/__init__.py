"""Bottom layer: errors, atomic file I/O, output guards, data paths, the version. Imports nothing else of ours."""
