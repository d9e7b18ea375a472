"""Image GANs on the shared core: datasets, nets, variants, image `GANPair`s and their CLI."""
