"""From a try to a picture and its files: the diffusers renderer, step previews, the PNG with its
settings, the thumbnail screens load."""
