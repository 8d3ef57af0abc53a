"""Face normalisation (grey, crop, resize), splits and the detection cache key."""
