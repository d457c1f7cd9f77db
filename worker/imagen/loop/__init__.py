"""The worker loop and its parts: wait for a hint, claim, render, hand the picture to the finisher."""
